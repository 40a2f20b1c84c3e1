package pypi

import (
	"context"
	"errors"
	"strings"

	"github.com/tidwall/gjson"
)

// pip and uv read a file's PEP 658 metadata file when they weigh that file,
// and once their resolver has settled they download the file of each
// release it picked: pip one after the other, each a round trip to the
// upstream through larder when the file is not held. So when a client asks
// for a metadata file, larder loads the file it describes beside it, when
// its page says the file is no larger than filesAheadMaxSize: by the time
// the resolver is done, the download finds it held, or under way. A
// resolver that backtracks, or one that only locks (uv lock, pip-compile),
// leaves some of them unasked: a wrong guess costs at most
// filesAheadMaxSize of upstream traffic and of the store, kept as any file
// and counted as served only once a client asks for it. A page without
// sizes (PEP 503 HTML) says nothing, and nothing is loaded.
const filesAheadMaxSize = 1 << 20

// loadFileAhead loads, in the background, the file of project at path (a
// file a client just asked for the metadata file of), unless it is held,
// under way or not small, or the registry says files_ahead = false.
func (g *Registry) loadFileAhead(project, path string) {
	if g.filesAheadSlots == nil || !g.up.Reachable() {
		return
	}
	g.up.GoTracked(func(ctx context.Context) {
		// Most metadata files read on a warm mirror describe a held file:
		// that costs no look at its page, nor a wait for a slot behind
		// loads under way.
		if a, err := g.up.Artifact(ctx, path); err == nil && a.Cached() {
			return
		}
		select {
		case g.filesAheadSlots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		defer func() { <-g.filesAheadSlots }()
		ctx, cancel := context.WithTimeout(ctx, prefetchTimeout)
		defer cancel()
		size, ok := g.declaredSize(ctx, project, path[strings.LastIndexByte(path, '/')+1:])
		if !ok || size > filesAheadMaxSize {
			return
		}
		// The file's row comes with its page's: the client may have read
		// the page while they commit.
		if err := g.up.AwaitCommit(ctx, project, variantPage); err != nil {
			return
		}
		if err := g.up.Preload(ctx, path); err != nil && !errors.Is(err, context.Canceled) {
			g.up.Env().Log.Debug("a file whose metadata was read could not be loaded ahead", "registry", g.name, "path", path, "err", err)
		}
	})
}

// declaredSize is the size the page of project gives filename, unless it
// says the file is yanked: the page the client has just read, held or
// still committing.
func (g *Registry) declaredSize(ctx context.Context, project, filename string) (int64, bool) {
	page, err := g.up.DocumentToAnswer(ctx, g.pageRequest(project))
	if err != nil {
		return 0, false
	}
	body, err := g.up.Body(ctx, page.Document)
	if err != nil {
		return 0, false
	}
	var size gjson.Result
	gjson.GetBytes(body, "files").ForEach(func(_, f gjson.Result) bool {
		if f.Get("filename").String() != filename {
			return true
		}
		// A yanked file is downloaded only by a client that pins it.
		if !f.Get("yanked").Bool() {
			size = f.Get("size")
		}
		return false
	})
	if size.Type != gjson.Number || size.Int() < 0 {
		return 0, false
	}
	return size.Int(), true
}

package rubygems

import (
	"bytes"
	"context"

	"github.com/larder-mirror/larder/registries"
	"github.com/larder-mirror/larder/storage"
)

// RubyGems dates each release, a version and platform (a platform's gem
// added to an old version later is new). The compact index carries no
// time, so a release is dated by when larder first saw it listed in its
// gem's info file. An info file's releases are recorded whenever larder
// reads it, policy or not, so that a policy turned on later, or a view of
// a past date, finds first sights already made rather than taking every
// release for new.

// infoReleases lists the releases of an info file, undated.
func infoReleases(inf info) []storage.Release {
	rels := make([]storage.Release, 0, len(inf.lines))
	for _, l := range inf.lines {
		version, _, _ := splitRelease(l.release)
		rels = append(rels, storage.Release{Name: l.release, Version: version})
	}
	return rels
}

// allowedReleases records the releases a stored info file lists and names
// those the request's cutoff lets it show: nil when it holds nothing back,
// with a key for the render cache.
func (g *Registry) allowedReleases(ctx context.Context, name string, doc storage.Document) (map[string]bool, string, error) {
	return g.up.RecordAndAllow(ctx, g.up.Cutoff(ctx, name), name, infoReleasesKey(doc),
		g.infoFileReleases(context.WithoutCancel(ctx), doc))
}

func infoReleasesKey(doc storage.Document) string { return "info\x00" + string(doc.Body) }

// infoFileReleases lists the releases a stored info file dates.
func (g *Registry) infoFileReleases(ctx context.Context, doc storage.Document) func() ([]storage.Release, error) {
	return func() ([]storage.Release, error) {
		body, err := g.up.Body(ctx, doc)
		if err != nil {
			return nil, err
		}
		inf, err := parseInfo(body)
		if err != nil {
			return nil, err
		}
		return infoReleases(inf), nil
	}
}

// learnRelease dates the releases of a gem from its info file, for a
// download larder has no date for yet.
func (g *Registry) learnRelease(ctx context.Context, name string) error {
	doc, err := g.infoDoc(ctx, name)
	if err != nil {
		return err
	}
	return g.up.RecordReleases(ctx, name, infoReleasesKey(doc.Document), g.infoFileReleases(ctx, doc.Document))
}

// cutoffActive says whether a request under ctx may have releases held
// back: the files about every gem are then written from the info files as
// larder serves them.
func (g *Registry) cutoffActive(ctx context.Context) bool {
	return g.up.Cutoff(ctx, "").Active()
}

// versionsAllowed is /versions under a cutoff, from the upstream's: each
// gem whose info file larder holds gets one line written from that file as
// /info serves it now (its allowed releases and their file's MD5; none
// when none is allowed), in place of the upstream's first line of it, and
// its later lines are left out. A gem larder has never read the info file
// of keeps the upstream's lines, so that bundler asks for that file (which
// larder then dates, and filters); leaving it out would leave it unasked,
// and undated, for good. A gem the upstream does not list is not listed.
//
// Each line is written from the upstream's lines up to it alone, so while
// the gems read and their allowed releases stay as they are, what the
// upstream appends only appends to what is served: a client's copy stays
// a prefix, and bundler gets the tail (a 206), not the whole file.
func (g *Registry) versionsAllowed(ctx context.Context, doc storage.Document) (*registries.Rendered, error) {
	known, err := g.servedGems(ctx, false, true)
	if err != nil {
		return nil, err
	}
	key := g.name + "\x00versions-allowed\x00" + string(doc.Body) + "\x00" + known.key
	return g.up.Env().Renders.Get(ctx, key, func() (*registries.Rendered, error) {
		body, err := g.up.Body(ctx, doc)
		if err != nil {
			return nil, err
		}
		rest, err := afterPreamble(body)
		if err != nil {
			return nil, err
		}
		byName := make(map[string]*heldGem, len(known.gems))
		for i := range known.gems {
			byName[known.gems[i].name] = &known.gems[i]
		}
		written := make(map[string]bool, len(known.gems))
		out := bytes.NewBuffer(make([]byte, 0, len(body)))
		out.Write(body[:len(body)-len(rest)])
		for _, raw := range bytes.SplitAfter(rest, []byte("\n")) {
			if len(bytes.TrimSpace(raw)) == 0 {
				continue
			}
			name, _, _ := bytes.Cut(raw, []byte(" "))
			k, ok := byName[string(name)]
			switch {
			case !ok:
				out.Write(raw)
				if raw[len(raw)-1] != '\n' {
					out.WriteByte('\n')
				}
			case !written[k.name]:
				written[k.name] = true
				if len(k.releases) > 0 {
					out.WriteString(versionsLine(*k))
				}
			}
		}
		return newRendered(out.Bytes()), nil
	})
}

package pypi

import (
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"

	"github.com/larder-mirror/larder/registries"
)

// Registry is one mounted Python package index.
type Registry struct {
	up        *registries.Upstream
	name      string
	publicURL string // "" means: from each request's Host
	mount     string // path prefix of larder's files, e.g. "/pypi"
	files     fileResolver
	legacy    *url.URL // the legacy JSON API's base, beside the simple API
	pagesBase string   // the upstream's simple API, ending in "/"

	refreshingRoot atomic.Bool
	// prefetchSlots bounds the dependency pages loaded at once (see
	// prefetchDependencyPages).
	prefetchSlots chan struct{}
	// filesAheadSlots bounds the files loaded at once because a client
	// read their metadata (see loadFileAhead); nil under files_ahead =
	// false.
	filesAheadSlots chan struct{}
	// pythons is which Python asked for a file, for the loads ahead its
	// keep starts.
	pythons clientPythons
}

// DefaultFileHosts are the hosts files may come from when file_hosts is
// not set: PyPI's.
var DefaultFileHosts = []string{"https://files.pythonhosted.org/"}

// New mounts a Python index on up; publicURL as for npm.
func New(up *registries.Upstream, publicURL string, opts Options) *Registry {
	o := up.Options()
	g := &Registry{
		up:        up,
		name:      o.Name,
		publicURL: strings.TrimSuffix(publicURL, "/"),
		files:     fileResolver{upstream: o.Upstream, hosts: o.AlsoFrom},

		prefetchSlots: make(chan struct{}, prefetchParallel),
	}
	if !opts.NoFilesAhead {
		g.filesAheadSlots = make(chan struct{}, prefetchParallel)
	}
	g.mount = "/" + o.Name
	if g.publicURL != "" {
		if u, err := url.Parse(g.publicURL); err == nil {
			g.mount = strings.TrimSuffix(u.Path, "/") + g.mount
		}
	}
	g.pagesBase = strings.TrimSuffix(o.Upstream.JoinPath("").String(), "/") + "/"
	// https://pypi.org/simple/ has its JSON API at https://pypi.org/pypi/.
	g.legacy, _ = o.Upstream.Parse("../pypi/")
	up.OnKept(g.prefetchDependencyPages)
	return g
}

func (g *Registry) Kind() string { return "pypi" }
func (g *Registry) Name() string { return g.name }

// ClientSetup gives the commands that point pip, uv and poetry at larder.
func (g *Registry) ClientSetup(base string) []registries.Snippet {
	index := base + "simple/"
	return []registries.Snippet{
		{Client: "pip", Shell: "pip config set global.index-url " + index, Note: "or: export PIP_INDEX_URL=" + index},
		{Client: "uv", Shell: "export UV_DEFAULT_INDEX=" + index, Note: "or: uv pip install --default-index " + index + " PACKAGE"},
		{Client: "poetry", Shell: "poetry source add --priority=primary larder " + index},
	}
}

// filesPathPrefix is the path-only prefix of a project's file links under
// mount (see mountIn).
func filesPathPrefix(mount, project string) string {
	return mount + "/files/" + project + "/"
}

// keepFiles is p with only the files keep keeps, and their versions (PEP
// 700).
func keepFiles(p Project, keep func(File) bool) Project {
	files := make([]File, 0, len(p.Files))
	for _, f := range p.Files {
		if keep(f) {
			files = append(files, f)
		}
	}
	p.Files, p.Versions = files, nil
	p.Versions = versionsOf(p)
	return p
}

// fileResolver lets a page's file links through only when they point at the
// upstream or a configured file host; any other link is dropped, so that no
// page can make larder fetch from an arbitrary host.
type fileResolver struct {
	upstream *url.URL
	hosts    []*url.URL
}

func (f fileResolver) check(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("file URL %q: scheme %q", raw, u.Scheme)
	}
	if u.User != nil {
		return fmt.Errorf("file URL %q: has user info", raw)
	}
	if registries.SameHost(u, f.upstream) {
		return nil
	}
	for _, h := range f.hosts {
		if registries.SameHost(u, h) {
			return nil
		}
	}
	return fmt.Errorf("file URL %q: host %s is neither the upstream nor in file_hosts", raw, u.Host)
}

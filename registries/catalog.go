package registries

import (
	"context"
	"strings"
	"time"

	"github.com/larder-mirror/larder/storage"
)

// PackageInfo is what an ecosystem tells the UI about one package, read from
// what larder holds (never from the upstream). Versions are newest first.
type PackageInfo struct {
	Registry string
	Name     string
	// Tags are npm's dist-tags; nil elsewhere.
	Tags map[string]string
	// MetadataFetched is when the package's metadata was last fetched or
	// confirmed by the upstream; zero when larder holds none.
	MetadataFetched time.Time
	Versions        []VersionInfo

	// What the package says of itself, from the newest metadata larder
	// holds; each is empty when larder holds none that says it.
	Description string // a one-line summary
	License     string // an SPDX expression or the license's name
	Homepage    string // a URL, as published: the UI links only http(s)
	Repository  string // the source repository's URL, as a browser opens it
	// Readme is the long description as published (npm's readme, PyPI's
	// description), untrusted: the UI sanitises what it renders of it.
	Readme       string
	ReadmeFormat string // "markdown", "rst" or "text"; "" is unknown, shown as text
}

// Dependency is one requirement of a version.
type Dependency struct {
	Name       string // the package depended on, in this registry
	Constraint string // the version range, as published ("^1.2.0", ">=2,<3")
	// Note qualifies it: "optional", "peer", a PEP 508 marker; "" for a
	// plain run-time dependency.
	Note string
}

// VersionInfo is one version and its files.
type VersionInfo struct {
	Version        string
	Cached         bool // at least one of its files is held
	Yanked         bool
	YankedReason   string
	RequiresPython string
	Deprecated     string
	Published      time.Time // zero when unknown
	Files          []FileInfo
	// Install is the command that installs this version, in the
	// ecosystem's usual client ("npm install left-pad@1.3.0"); "" for none.
	Install string
	// Dependencies are what the version requires, when larder holds the
	// metadata that says; DependenciesKnown tells an empty list from an
	// unknown one.
	Dependencies      []Dependency
	DependenciesKnown bool
}

// FileInfo is one artifact of a version.
type FileInfo struct {
	Name        string // file name
	Path        string // under the registry's mount; the download link is base + Path
	Cached      bool
	Size        int64
	SHA256      string
	FirstFetch  time.Time
	LastServed  time.Time
	Hits        int64
	Integrity   string // what the upstream declared
	UpstreamURL string
}

// FileInfoOf is what the UI shows of an artifact's row, named by the last
// segment of its path.
func FileInfoOf(a storage.Artifact) FileInfo {
	return FileInfo{
		Name: a.Path[strings.LastIndexByte(a.Path, '/')+1:], Path: a.Path, Cached: a.Cached(),
		Size: a.Size, SHA256: string(a.SHA256), FirstFetch: a.FirstFetch, LastServed: a.LastServed,
		Hits: a.Hits, Integrity: a.Integrity, UpstreamURL: a.UpstreamURL,
	}
}

// Describer is implemented by ecosystems whose packages the UI can show.
type Describer interface {
	// Describe returns what larder holds of a package, or an error wrapping
	// ErrNotFound when it holds nothing.
	Describe(ctx context.Context, name string) (PackageInfo, error)
}

// HeldView says what of pkg a document shows: nil for all of it (the
// upstream can be asked, or it is only suspect and larder holds nothing of
// pkg, when the stale document whole is the best answer); else the paths of
// the artifacts larder holds, none at all when it is offline or down and
// holds nothing, with a key that names that set for a render cache.
// degraded is the document's own Degraded.
func (u *Upstream) HeldView(ctx context.Context, pkg string, degraded bool) (held map[string]bool, key string, err error) {
	if !degraded && u.reachable() {
		return nil, "", nil
	}
	held, err = u.env.Store.CachedPaths(ctx, u.opts.Name, pkg)
	if err != nil {
		return nil, "", err
	}
	if len(held) == 0 && !u.Gone() {
		return nil, "", nil
	}
	if held == nil {
		held = map[string]bool{}
	}
	return held, "held\x00" + HeldKey(held), nil
}

package registries

import (
	"context"
	"time"
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

// Describer is implemented by ecosystems whose packages the UI can show.
type Describer interface {
	// Describe returns what larder holds of a package, or an error wrapping
	// ErrNotFound when it holds nothing.
	Describe(ctx context.Context, name string) (PackageInfo, error)
}

package npm

import (
	"strings"
	"time"

	"github.com/larder-mirror/larder/registries"
)

// Kind describes npm to cmd/larder's table of kinds.
var Kind = registries.Kind{
	Name:        "npm",
	Upstream:    "https://registry.npmjs.org/",
	MetadataTTL: 5 * time.Minute,
	Default:     true,
	Keys:        []string{"tarball_hosts"},
	Decode:      decodeKeys,
	// The digests the documents declare: dist.integrity and shasum for npm,
	// the hashes of PyPI's pages.
	Verify: registries.VerifyDeclared,
	New: func(up *registries.Upstream, publicURL string, _ any) registries.Registry {
		return New(up, publicURL)
	},
	DatesReleases: true,
	Lockfiles: []registries.LockfileReader{
		lockfileFormat{"package-lock.json", formatPackageLock},
		lockfileFormat{"npm-shrinkwrap.json", formatPackageLock},
		lockfileFormat{"yarn.lock", formatYarnClassic},
		lockfileFormat{"pnpm-lock.yaml", formatPnpm},
	},
}

// decodeKeys reads tarball_hosts: the hosts whose tarball URLs are fetched
// from the upstream at the same path (DefaultTarballHosts when absent).
func decodeKeys(keys registries.KindKeys, o *registries.Options) (any, error) {
	hosts, err := keys.Hosts("tarball_hosts", DefaultTarballHosts)
	if err != nil {
		return nil, err
	}
	o.AlsoFrom = hosts
	return nil, nil
}

// lockfileFormat is one of the lockfile formats ParseLockfile reads; each
// reads every format, as the name and content tell it.
type lockfileFormat struct {
	name   string
	format lockFormat
}

func (f lockfileFormat) Format() string { return f.name }

func (f lockfileFormat) Match(name string, head []byte) registries.LockMatch {
	base := strings.ToLower(name)
	switch {
	case base == f.name:
		return registries.ByName
	case f.name == "package-lock.json" && strings.HasSuffix(base, "package-lock.json"): // node_modules/.package-lock.json
		return registries.ByName
	case f.name == "pnpm-lock.yaml" && base == "pnpm-lock.yml":
		return registries.ByName
	case f.name == "npm-shrinkwrap.json":
		return registries.NoMatch // package-lock.json claims the content
	}
	got := detectFormat("", head)
	if got == f.format || f.format == formatYarnClassic && got == formatYarnBerry {
		return registries.ByContent
	}
	return registries.NoMatch
}

func (f lockfileFormat) Read(path string) ([]registries.Pin, []error, error) {
	pkgs, skipped, err := ReadLockfile(path)
	if err != nil {
		return nil, nil, err
	}
	pins := make([]registries.Pin, len(pkgs))
	for i, p := range pkgs {
		pins[i] = registries.Pin{
			Label: p.Name + "@" + p.Version,
			File:  registries.PinnedFile{Path: p.TarballPath(), Integrity: registries.Integrity(p.Integrity)},
		}
	}
	return pins, skipped, nil
}

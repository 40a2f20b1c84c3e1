package rubygems

import (
	"time"

	"github.com/larder-mirror/larder/registries"
)

// Kind describes RubyGems to cmd/larder's table of kinds, mounted by
// default at /gems/.
var Kind = registries.Kind{
	Name:        "rubygems",
	Mount:       "gems",
	Upstream:    "https://rubygems.org/",
	MetadataTTL: 5 * time.Minute,
	Default:     true,
	// A .gem's row carries the sha256 its info line declares, in SRI
	// notation; a gemspec's carries none (see doc.go).
	Verify: registries.VerifyDeclared,
	New: func(up *registries.Upstream, publicURL string, _ any) registries.Registry {
		return New(up, publicURL)
	},
	Lockfiles: []registries.LockfileReader{gemfileLock{}},
	// First sight in an info file (releases.go).
	DatesReleases: true,
}

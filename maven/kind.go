package maven

import (
	"fmt"
	"time"

	"github.com/larder-mirror/larder/registries"
)

// Kind describes Maven repositories to cmd/larder's table of kinds,
// mounted by default at /maven/.
var Kind = registries.Kind{
	Name:        "maven",
	Upstream:    "https://repo1.maven.org/maven2/",
	MetadataTTL: 5 * time.Minute,
	Default:     true,
	Keys:        []string{"negative_ttl"},
	Decode:      decodeKeys,
	// The strongest checksum the upstream publishes beside each file,
	// recorded on its row before it is fetched (see Registry.announce).
	Verify: registries.VerifyDeclared,
	New: func(up *registries.Upstream, publicURL string, opts any) registries.Registry {
		o, _ := opts.(Options)
		return New(up, publicURL, o)
	},
	Lockfiles: []registries.LockfileReader{gradleLockfile{}, coordinateList{}},
	// First sight in an artifact's maven-metadata.xml (releases.go).
	DatesReleases: true,
}

// DefaultNegativeTTL is how long a file the upstream does not have is
// remembered as missing when negative_ttl is not set.
const DefaultNegativeTTL = time.Minute

// Options are a maven registry's own keys, decoded.
type Options struct {
	// NegativeTTL is how long a 404 of the upstream is answered from
	// memory: Maven and Gradle probe for files that do not exist
	// (.module files, classifiers, metadata in every repository), and a
	// build should not pay a round trip per probe. 0 means
	// DefaultNegativeTTL; a negative value turns it off.
	NegativeTTL time.Duration
}

func decodeKeys(keys registries.KindKeys, _ *registries.Options) (any, error) {
	o := Options{}
	raw, ok := keys["negative_ttl"]
	if !ok {
		return o, nil
	}
	s, isString := raw.(string)
	if !isString {
		return nil, &registries.ConfigError{Key: "negative_ttl", Err: fmt.Errorf("want a duration, such as \"1m\" (\"0s\" turns it off)")}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return nil, &registries.ConfigError{Key: "negative_ttl", Err: fmt.Errorf("%q: want a duration, such as \"1m\" (\"0s\" turns it off)", s)}
	}
	o.NegativeTTL = d
	if d == 0 {
		o.NegativeTTL = -1
	}
	return o, nil
}

package npm

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/larder-mirror/larder/registries"
)

func TestTarballHostsDefaultToTheRegistrysOwnAndAreChecked(t *testing.T) {
	var o registries.Options
	if _, err := Kind.Decode(nil, &o); err != nil || len(o.AlsoFrom) != 1 || o.AlsoFrom[0].Host != "registry.npmjs.org" {
		t.Errorf("default: %v, %v", o.AlsoFrom, err)
	}
	o = registries.Options{}
	if _, err := Kind.Decode(registries.KindKeys{"tarball_hosts": []any{}}, &o); err != nil || len(o.AlsoFrom) != 0 {
		t.Errorf("an empty list: %v, %v; want no host", o.AlsoFrom, err)
	}
	_, err := Kind.Decode(registries.KindKeys{"tarball_hosts": []any{"cdn.example", "a b"}}, &o)
	if ce, ok := err.(*registries.ConfigError); !ok || ce.Key != "tarball_hosts[1]" {
		t.Errorf("a bad host: %v, want a ConfigError naming tarball_hosts[1]", err)
	}
}

func TestALockfilesPinsAreTarballsWithTheirIntegrity(t *testing.T) {
	path := filepath.Join(t.TempDir(), "package-lock.json")
	os.WriteFile(path, []byte(`{"lockfileVersion":3,"packages":{"":{},
"node_modules/@s/p":{"version":"1.0.0","integrity":"sha512-AAAA"}}}`), 0o644)
	var reader registries.LockfileReader
	for _, r := range Kind.Lockfiles {
		if r.Match("package-lock.json", nil) == registries.ByName {
			reader = r
		}
	}
	pins, skipped, err := reader.Read(path)
	if err != nil || len(skipped) != 0 || len(pins) != 1 {
		t.Fatalf("pins %+v, skipped %v, err %v", pins, skipped, err)
	}
	want := registries.Pin{Label: "@s/p@1.0.0", File: registries.PinnedFile{Path: "@s/p/-/p-1.0.0.tgz", Integrity: "sha512-AAAA"}}
	if pins[0].Label != want.Label || pins[0].File != want.File || pins[0].Release != nil {
		t.Errorf("pin %+v, want %+v", pins[0], want)
	}
}

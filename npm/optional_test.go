package npm

import (
	"testing"
	"time"

	"github.com/larder-mirror/larder/npm/npmtest"
)

// Once a version's tarball is kept, the packuments of that version's
// optional dependencies are kept too, and nothing more: not their
// tarballs, not those of another version's optional dependencies.
func TestAKeptTarballBringsThePackumentsOfItsOptionalDependencies(t *testing.T) {
	t.Parallel()
	up := npmtest.New()
	t.Cleanup(up.Close)
	for _, p := range []string{"@n/n-sunos-x64", "@n/n-aix-ppc64", "@n/n-old-only"} {
		up.PublishTarball(p, "1.0.0", npmtest.TarballWith(p, "1.0.0", nil, map[string]any{"os": []string{"sunos"}}), nil)
	}
	up.PublishTarball("n", "0.9.0", npmtest.TarballWith("n", "0.9.0", nil, map[string]any{"optionalDependencies": map[string]string{"@n/n-old-only": "1.0.0"}}), nil)
	up.PublishTarball("n", "1.0.0", npmtest.TarballWith("n", "1.0.0", nil, map[string]any{
		"optionalDependencies": map[string]string{"@n/n-sunos-x64": "1.0.0", "@n/n-aix-ppc64": "1.0.0"}}), nil)
	m := newPinMirror(t, up)

	m.get(t, "/npm/n/-/n-1.0.0.tgz", "")
	held := func(name string) bool {
		for _, v := range []string{variantAbbreviated, variantFull} {
			if _, err := m.store.DB.Document(t.Context(), "npm", name, v); err == nil {
				return true
			}
		}
		return false
	}
	deadline := time.Now().Add(10 * time.Second)
	for !held("@n/n-sunos-x64") || !held("@n/n-aix-ppc64") {
		if time.Now().After(deadline) {
			t.Fatal("the optional dependencies' packuments were never kept")
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // anything more would have been fetched by now
	if held("@n/n-old-only") {
		t.Error("the optional dependency of a version not held was fetched")
	}
	for _, p := range []string{"/@n/n-sunos-x64/-/n-sunos-x64-1.0.0.tgz", "/@n/n-aix-ppc64/-/n-aix-ppc64-1.0.0.tgz"} {
		if n := up.Count("GET", p); n != 0 {
			t.Errorf("%s was fetched %d times; no install here needs it", p, n)
		}
	}
}

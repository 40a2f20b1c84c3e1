package rubygems

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/larder-mirror/larder/registries"
)

const lockfile = `GIT
  remote: https://github.com/example/private.git
  revision: 0123456789abcdef
  specs:
    private (0.1.0)

GEM
  remote: https://rubygems.org/
  specs:
    nokogiri (1.15.0-x86_64-linux)
      racc (~> 1.4)
    racc (1.7.3)
    rack (2.2.8)
    bad name (1.0)
    rails (not-a-version)

PLATFORMS
  x86_64-linux

DEPENDENCIES
  nokogiri
  private!
  rack (~> 2.2)

CHECKSUMS
  nokogiri (1.15.0-x86_64-linux) sha256=1111111111111111111111111111111111111111111111111111111111111111
  racc (1.7.3)
  rack (2.2.8) sha256=2222222222222222222222222222222222222222222222222222222222222222

BUNDLED WITH
   2.5.6
`

func TestGemfileLockPinsEachGemOfItsGEMSectionsWithTheirChecksums(t *testing.T) {
	path := filepath.Join(t.TempDir(), "Gemfile.lock")
	os.WriteFile(path, []byte(lockfile), 0o644)
	pins, skipped, err := gemfileLock{}.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range pins {
		got = append(got, p.File.Path+" "+string(p.File.Integrity))
	}
	want := []string{
		"gems/nokogiri-1.15.0-x86_64-linux.gem " + string(registries.SRIFromHex("sha256", strings.Repeat("1", 64))),
		"gems/racc-1.7.3.gem ",
		"gems/rack-2.2.8.gem " + string(registries.SRIFromHex("sha256", strings.Repeat("2", 64))),
	}
	if !slices.Equal(got, want) {
		t.Errorf("pins:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(skipped) != 2 || !strings.Contains(skipped[0].Error(), "bad name") || !strings.Contains(skipped[1].Error(), "not-a-version") {
		t.Errorf("skipped: %v, want the two entries that are no gem release", skipped)
	}
}

func TestGemfileLockIsKnownByItsNameOrItsFirstBytes(t *testing.T) {
	for _, tc := range []struct {
		name, head string
		want       registries.LockMatch
	}{
		{"/src/app/Gemfile.lock", "", registries.ByName},
		{"gems.locked", "", registries.ByName},
		{"ci.lock", "GEM\n  remote: https://rubygems.org/\n", registries.ByContent},
		{"package-lock.json", "{", registries.NoMatch},
	} {
		if got := (gemfileLock{}).Match(tc.name, []byte(tc.head)); got != tc.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tc.name, tc.head, got, tc.want)
		}
	}
}

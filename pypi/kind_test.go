package pypi

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/larder-mirror/larder/registries"
	"github.com/larder-mirror/larder/storage"
)

func TestFileHostsDefaultToPyPIsAndAreChecked(t *testing.T) {
	var o registries.Options
	if _, err := Kind.Decode(nil, &o); err != nil || len(o.AlsoFrom) != 1 || o.AlsoFrom[0].Host != "files.pythonhosted.org" {
		t.Errorf("default: %v, %v", o.AlsoFrom, err)
	}
	_, err := Kind.Decode(registries.KindKeys{"file_hosts": []any{"ftp://x/"}}, &o)
	if ce, ok := err.(*registries.ConfigError); !ok || ce.Key != "file_hosts[0]" {
		t.Errorf("a bad host: %v, want a ConfigError naming file_hosts[0]", err)
	}
}

func TestFilesAheadIsOnUnlessSetFalse(t *testing.T) {
	for _, tc := range []struct {
		keys registries.KindKeys
		off  bool
	}{{nil, false}, {registries.KindKeys{"files_ahead": true}, false}, {registries.KindKeys{"files_ahead": false}, true}} {
		var o registries.Options
		got, err := Kind.Decode(tc.keys, &o)
		if err != nil || got.(Options).NoFilesAhead != tc.off {
			t.Errorf("%v: %+v, %v; want NoFilesAhead %v", tc.keys, got, err, tc.off)
		}
	}
	var o registries.Options
	_, err := Kind.Decode(registries.KindKeys{"files_ahead": "no"}, &o)
	if ce, ok := err.(*registries.ConfigError); !ok || ce.Key != "files_ahead" {
		t.Errorf("files_ahead = \"no\": %v, want a ConfigError naming files_ahead", err)
	}
}

func TestARequirementsPinIsFoundOnItsPageAndAmongHeldFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "requirements.txt")
	os.WriteFile(path, []byte("Alpha_Pkg==1.0\n"), 0o644)
	pins, skipped, err := requirementsFormat{}.Read(path)
	if err != nil || len(skipped) != 0 || len(pins) != 1 || pins[0].Release == nil {
		t.Fatalf("pins %+v, skipped %v, err %v", pins, skipped, err)
	}
	rel := pins[0].Release
	if rel.Package != "alpha-pkg" || rel.Document != "simple/alpha-pkg/" || rel.Accept != "application/vnd.pypi.simple.v1+json" {
		t.Errorf("release %+v", rel)
	}
	sum := "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	files, err := rel.Files([]byte(`{"files":[{"filename":"alpha_pkg-1.0-py3-none-any.whl","hashes":{"sha256":"` + sum + `"}},
{"filename":"alpha_pkg-2.0-py3-none-any.whl","hashes":{}}]}`))
	want := []registries.PinnedFile{{Path: "files/alpha-pkg/alpha_pkg-1.0-py3-none-any.whl", Integrity: registries.SRIFromHex("sha256", sum)}}
	if err != nil || !slices.Equal(files, want) {
		t.Errorf("files %+v, %v; want %+v", files, err, want)
	}
	held := func(path, version string) []string {
		return rel.Held(storage.Artifact{Path: path, Version: version, SHA256: storage.Digest(sum)})
	}
	if got := held("files/alpha-pkg/alpha_pkg-1.0.tar.gz", "1.0"); !slices.Equal(got, []string{"files/alpha-pkg/alpha_pkg-1.0.tar.gz", "files/alpha-pkg/alpha_pkg-1.0.tar.gz.metadata"}) {
		t.Errorf("a held file of the version: %v", got)
	}
	if got := held("files/alpha-pkg/alpha_pkg-2.0.tar.gz", "2.0"); got != nil {
		t.Errorf("a held file of another version: %v", got)
	}
	if got := held("files/alpha-pkg/alpha_pkg-1.0.tar.gz.metadata", "1.0"); got != nil {
		t.Errorf("a metadata file: %v", got)
	}
}

func TestOnlyPylockNamesOrContentArePylock(t *testing.T) {
	for _, tt := range []struct {
		name, head string
		want       registries.LockMatch
	}{
		{"pylock.toml", "", registries.ByName},
		{"pylock.web.toml", "", registries.ByName},
		{"locked.toml", "# comment\nlock-version = \"1.0\"\n", registries.ByContent},
		{"pyproject.toml", "[project]\nname = \"x\"\n", registries.NoMatch},
	} {
		if got := (pylockFormat{}).Match(tt.name, []byte(tt.head)); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}

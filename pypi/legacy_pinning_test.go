package pypi

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/larder-mirror/larder/pypi/pypitest"
)

// legacyDigests reads, from a legacy JSON document, what every entry for
// filename declares: its digests and md5_digest, by where it appears.
func legacyDigests(t *testing.T, body, filename string) map[string]map[string]any {
	t.Helper()
	var d struct {
		URLs     []map[string]any            `json:"urls"`
		Releases map[string][]map[string]any `json:"releases"`
	}
	if err := json.Unmarshal([]byte(body), &d); err != nil {
		t.Fatalf("%v\n%s", err, body)
	}
	out := map[string]map[string]any{}
	note := func(where string, fs []map[string]any) {
		for _, f := range fs {
			if f["filename"] != filename {
				continue
			}
			entry := map[string]any{}
			if ds, ok := f["digests"].(map[string]any); ok {
				for k, v := range ds {
					entry["digests."+k] = v
				}
			}
			if v, ok := f["md5_digest"]; ok {
				entry["md5_digest"] = v
			}
			entry["size"] = f["size"]
			out[where] = entry
		}
	}
	note("urls", d.URLs)
	for v, fs := range d.Releases {
		note("releases."+v, fs)
	}
	return out
}

// The legacy JSON API names a pinned file with the pinned digests, as the
// simple pages do: poetry reads digests.sha256 from it, and a digest that
// no longer matches the served bytes is not passed on.
func TestLegacyJSONNamesThePinnedDigests(t *testing.T) {
	t.Parallel()
	up := pypitest.New()
	t.Cleanup(up.Close)
	name, original := pypitest.Sdist("beta", "1.0.0", nil)
	up.AddFile("beta", name, original, pypitest.FileOpts{})
	m := revalidatingMirror(t, up)

	before := legacyDigests(t, m.mustGet(t, "/pypi/pypi/beta/json"), name)
	if before["urls"]["digests.sha256"] != hexSHA256(original) {
		t.Fatalf("before any change the legacy JSON says %v", before)
	}
	if got := m.mustGet(t, "/pypi/files/beta/"+name); got != string(original) {
		t.Fatal("the first download served other bytes")
	}
	m.waitHeld(t, "beta", filePath("beta", name))

	other := append(bytes.Clone(original), 0)
	up.AddFile("beta", name, other, pypitest.FileOpts{})
	stale := map[string]bool{hexSHA256(other): true, hexMD5(other): true}
	// The project document was read before the change, the version's never.
	for _, path := range []string{"/pypi/pypi/beta/json", "/pypi/pypi/beta/1.0.0/json"} {
		got := legacyDigests(t, m.mustGet(t, path), name)
		if len(got) == 0 {
			t.Fatalf("%s does not name %s", path, name)
		}
		for where, entry := range got {
			if entry["digests.sha256"] != hexSHA256(original) {
				t.Errorf("%s %s: digests.sha256 %v, want the pinned %s", path, where, entry["digests.sha256"], hexSHA256(original))
			}
			if entry["size"] != float64(len(original)) {
				t.Errorf("%s %s: size %v, want the held %d", path, where, entry["size"], len(original))
			}
			for k, v := range entry {
				if s, _ := v.(string); stale[s] {
					t.Errorf("%s %s: %s names the upstream's new bytes (%s)", path, where, k, s)
				}
				if k == "digests.md5" || k == "md5_digest" {
					if v != hexMD5(original) {
						t.Errorf("%s %s: %s is %v, which matches no bytes larder serves", path, where, k, v)
					}
				}
			}
		}
	}
	if m.conflictCount(t, "beta") == 0 {
		t.Error("the conflict seen through the legacy JSON was not recorded")
	}
}

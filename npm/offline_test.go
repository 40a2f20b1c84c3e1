package npm

import (
	"encoding/json"
	"testing"
)

func TestCachedViewListsOnlyHeldVersionsAndRepointsLatest(t *testing.T) {
	doc := `{"name":"x","dist-tags":{"latest":"2.0.0","next":"3.0.0-rc.1","old":"1.0.0"},
	"versions":{"1.0.0":{"version":"1.0.0"},"1.5.0":{"version":"1.5.0"},"1.6.0-beta.1":{"version":"1.6.0-beta.1"},
	"2.0.0":{"version":"2.0.0"},"2.1.0":{"version":"2.1.0"},"3.0.0-rc.1":{"version":"3.0.0-rc.1"}},"readme":"kept"}`
	tests := []struct {
		name       string
		held       []string
		wantLatest string
		wantTags   int
	}{
		{"latest held stays", []string{"2.0.0", "1.0.0"}, "2.0.0", 2},
		{"latest falls back to the newest held release", []string{"1.0.0", "1.5.0", "1.6.0-beta.1"}, "1.5.0", 2},
		{"a held version newer than latest is not latest", []string{"1.0.0", "2.1.0"}, "1.0.0", 2},
		{"nothing suitable leaves no latest", []string{"3.0.0-rc.1"}, "", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			held := map[string]bool{}
			for _, v := range tt.held {
				held[v] = true
			}
			out, err := cachedView([]byte(doc), held)
			if err != nil {
				t.Fatal(err)
			}
			var got struct {
				Tags     map[string]string          `json:"dist-tags"`
				Versions map[string]json.RawMessage `json:"versions"`
				Readme   string                     `json:"readme"`
			}
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatal(err)
			}
			if len(got.Versions) != len(tt.held) {
				t.Errorf("versions %v, want %v", got.Versions, tt.held)
			}
			if got.Tags["latest"] != tt.wantLatest || len(got.Tags) != tt.wantTags {
				t.Errorf("dist-tags %v, want latest %q and %d tags", got.Tags, tt.wantLatest, tt.wantTags)
			}
			if got.Readme != "kept" {
				t.Error("other fields must pass through")
			}
		})
	}
}

func TestCachedViewKeepsVersionsBuiltForAPlatformButPointsNoTagAtThem(t *testing.T) {
	doc := `{"name":"@x/x-sunos-x64","dist-tags":{"latest":"1.1.0"},
	"versions":{"1.0.0":{"version":"1.0.0","os":["sunos"],"cpu":["x64"]},"1.1.0":{"version":"1.1.0","os":["sunos"]},
	"0.9.0":{"version":"0.9.0","os":[]}}}`
	if !anyPlatformBound([]byte(doc)) {
		t.Fatal("anyPlatformBound missed os and cpu")
	}
	out, err := cachedView([]byte(doc), map[string]bool{})
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Tags     map[string]string          `json:"dist-tags"`
		Versions map[string]json.RawMessage `json:"versions"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Versions) != 2 || got.Versions["1.0.0"] == nil || got.Versions["1.1.0"] == nil {
		t.Errorf("versions %v, want the two that declare a platform (an empty os list declares none)", got.Versions)
	}
	if len(got.Tags) != 0 {
		t.Errorf("dist-tags %v point at versions not held", got.Tags)
	}
	if anyPlatformBound([]byte(`{"versions":{"1.0.0":{"os":[]},"2.0.0":{}}}`)) {
		t.Error("a packument with no platform-bound version counted as one")
	}
}

package npm

import (
	"encoding/json"
	"maps"
	"slices"
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
		// next (3.0.0-rc.1) moves back to the newest held version before it.
		{"latest held stays", []string{"2.0.0", "1.0.0"}, "2.0.0", 3},
		{"latest falls back to the newest held release", []string{"1.0.0", "1.5.0", "1.6.0-beta.1"}, "1.5.0", 3},
		{"a held version newer than latest is not latest", []string{"1.0.0", "2.1.0"}, "1.0.0", 3},
		{"nothing suitable leaves no latest", []string{"3.0.0-rc.1"}, "", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			held := map[string]bool{}
			for _, v := range tt.held {
				held[v] = true
			}
			out, err := cachedView([]byte(doc), viewFilter{held: held})
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
			if got.Tags["latest"] != tt.wantLatest || len(got.Tags) != tt.wantTags || (got.Tags["next"] != "" && !slices.Contains(tt.held, got.Tags["next"])) {
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
	got := viewOf(t, doc, viewFilter{held: map[string]bool{}, unheldPlatformBuilds: true})
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

type packumentView struct {
	Tags     map[string]string          `json:"dist-tags"`
	Versions map[string]json.RawMessage `json:"versions"`
	Time     map[string]string          `json:"time"`
}

func viewOf(t *testing.T, doc string, f viewFilter) packumentView {
	t.Helper()
	out, err := cachedView([]byte(doc), f)
	if err != nil {
		t.Fatal(err)
	}
	var got packumentView
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	return got
}

// fsevents: 2.3.2 held, 2.3.3 not. A range resolves to the held one only
// if the one not held is left out, platform build or not.
func TestOnceAVersionIsHeldPlatformBuildsNotHeldAreLeftOut(t *testing.T) {
	doc := `{"name":"fsevents","dist-tags":{"latest":"2.3.3"},
	"versions":{"2.3.2":{"version":"2.3.2","os":["darwin"]},"2.3.3":{"version":"2.3.3","os":["darwin"]}},
	"time":{"2.3.2":"2023-01-01T00:00:00.000Z","2.3.3":"2023-08-01T00:00:00.000Z"}}`
	got := viewOf(t, doc, viewFilter{held: map[string]bool{"2.3.2": true}})
	if len(got.Versions) != 1 || got.Versions["2.3.2"] == nil {
		t.Errorf("versions %v, want only the held 2.3.2", got.Versions)
	}
	if got.Tags["latest"] != "2.3.2" || got.Time["2.3.3"] != "" {
		t.Errorf("dist-tags %v, time %v: want latest on the held 2.3.2 and no time for 2.3.3", got.Tags, got.Time)
	}
}

// The release-age cutoff knows no platform exception, offline or not.
func TestAYoungPlatformBuildIsLeftOutUnderACutoff(t *testing.T) {
	doc := `{"name":"@e/linux-x64","dist-tags":{"latest":"1.1.0"},
	"versions":{"1.0.0":{"version":"1.0.0","os":["linux"],"cpu":["x64"]},"1.1.0":{"version":"1.1.0","os":["linux"],"cpu":["x64"]}},
	"time":{"1.0.0":"2026-01-01T00:00:00.000Z","1.1.0":"2026-12-03T00:00:00.000Z"}}`
	old := map[string]bool{"1.0.0": true}
	for _, f := range []viewFilter{
		{allowed: old},
		{allowed: old, held: map[string]bool{}, unheldPlatformBuilds: true},
	} {
		got := viewOf(t, doc, f)
		if len(got.Versions) != 1 || got.Versions["1.0.0"] == nil || got.Time["1.1.0"] != "" {
			t.Errorf("%+v: versions %v, time %v, want only 1.0.0", f, got.Versions, got.Time)
		}
		if len(got.Tags) != 0 && got.Tags["latest"] != "1.0.0" {
			t.Errorf("%+v: dist-tags %v point at a version held back", f, got.Tags)
		}
	}
}

// Under a cutoff a beta tag on a release held back moves back along the
// beta line, and next to the newest allowed release before it.
func TestTagsOnReleasesHeldBackMoveBackToTheNewestAllowedBeforeThem(t *testing.T) {
	doc := `{"name":"x","dist-tags":{"latest":"2.0.0","beta":"2.1.0-beta.3","next":"3.0.0"},
	"versions":{"1.0.0":{},"2.0.0":{},"2.1.0-beta.2":{},"2.1.0-beta.3":{},"3.0.0":{}}}`
	got := viewOf(t, doc, viewFilter{allowed: map[string]bool{"1.0.0": true, "2.0.0": true, "2.1.0-beta.2": true}})
	// next pointed at a release: it moves to a release, not to a beta.
	want := map[string]string{"latest": "2.0.0", "beta": "2.1.0-beta.2", "next": "2.0.0"}
	if !maps.Equal(got.Tags, want) {
		t.Errorf("dist-tags %v, want %v", got.Tags, want)
	}
}

package storage

import (
	"testing"
	"time"
)

func TestTheFirstDateRecordedForAReleaseWinsAndAnUndatedOneTakesTheFirstDateGiven(t *testing.T) {
	d := newTestDB(t)
	jan := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	seen := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	first := []Release{
		{Name: "1.0.0", Version: "1.0.0", Published: jan, FirstSeen: seen},
		{Name: "pkg-1.1.0-py3-none-any.whl", Version: "1.1.0", FirstSeen: seen},
	}
	if err := d.RecordReleases(t.Context(), "reg", "pkg", first); err != nil {
		t.Fatal(err)
	}
	// Later documents that date them otherwise change nothing; a new
	// release is added.
	later := []Release{
		{Name: "1.0.0", Version: "1.0.0", Published: jan.Add(-365 * 24 * time.Hour), FirstSeen: seen.Add(time.Hour)},
		{Name: "pkg-1.1.0-py3-none-any.whl", Version: "1.1.0", Published: jan, FirstSeen: seen.Add(time.Hour)},
		{Name: "2.0.0", Version: "2.0.0", FirstSeen: seen.Add(time.Hour)},
	}
	if err := d.RecordReleases(t.Context(), "reg", "pkg", later); err != nil {
		t.Fatal(err)
	}
	got, err := d.Releases(t.Context(), "reg", "pkg")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("%d releases, want 3: %+v", len(got), got)
	}
	// The file that had no upload time takes the first one given.
	first[1].Published = jan
	for _, want := range append(first, later[2]) {
		r := got[want.Name]
		if r.Version != want.Version || !r.Published.Equal(want.Published) || !r.FirstSeen.Equal(want.FirstSeen) {
			t.Errorf("%s = %+v, want %+v", want.Name, r, want)
		}
	}
	if other, _ := d.Releases(t.Context(), "other", "pkg"); len(other) != 0 {
		t.Errorf("another registry's releases: %+v", other)
	}
}

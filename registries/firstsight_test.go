package registries

import (
	"context"
	"testing"
	"time"

	"github.com/larder-mirror/larder/storage"
)

// A kind that knows larder saw a release before now (it holds a file of it
// since) gives that first sight; one later than now, which no sighting can
// be, is taken for now.
func TestRecordReleasesKeepsAnEarlierFirstSightTheKindGives(t *testing.T) {
	now := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	env := newTestEnv(t)
	u := env.upstream(t, "http://127.0.0.1:1/", Options{MinReleaseAge: 72 * time.Hour, Now: func() time.Time { return now }})
	ctx := context.Background()
	jan := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	err := u.RecordReleases(ctx, "pkg", "held", func() ([]storage.Release, error) {
		return []storage.Release{
			{Name: "1.0.0", Version: "1.0.0", FirstSeen: jan},
			{Name: "2.0.0", Version: "2.0.0", FirstSeen: now.Add(24 * time.Hour)},
			{Name: "3.0.0", Version: "3.0.0"},
		}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	rels, err := u.Releases(ctx, "pkg")
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]time.Time{"1.0.0": jan, "2.0.0": now, "3.0.0": now} {
		if got := rels[name].FirstSeen; !got.Equal(want) {
			t.Errorf("%s first seen %v, want %v", name, got, want)
		}
	}
}

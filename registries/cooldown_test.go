package registries

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/larder-mirror/larder/storage"
)

func TestParseAgeReadsShortAndISODurations(t *testing.T) {
	day := 24 * time.Hour
	for in, want := range map[string]time.Duration{
		"": 0, "0": 0, "3d": 3 * day, "12h": 12 * time.Hour, "90m": 90 * time.Minute, "2w": 14 * day,
		"1d12h": 36 * time.Hour, "P3D": 3 * day, "PT12H": 12 * time.Hour, "P1W": 7 * day, "P1DT6H": 30 * time.Hour, "PT30M": 30 * time.Minute,
	} {
		got, err := ParseAge(in)
		if err != nil || got != want {
			t.Errorf("ParseAge(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"3", "3 days", "d3", "-3d", "P", "PT", "P1M", "P1Y", "3d x", "99999999999999999d"} {
		if d, err := ParseAge(bad); err == nil {
			t.Errorf("ParseAge(%q) = %v, want an error", bad, d)
		}
	}
}

func TestParseViewReadsDatesDateTimesAndAges(t *testing.T) {
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	for label, want := range map[string]time.Time{
		"2026-03-01":                time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC),
		"2026-03-01T12:30:00Z":      time.Date(2026, 3, 1, 12, 30, 0, 0, time.UTC),
		"2026-03-01T12:30:00+02:00": time.Date(2026, 3, 1, 10, 30, 0, 0, time.UTC),
		"P3D":                       now.Add(-72 * time.Hour),
		"PT1H":                      now.Add(-time.Hour),
	} {
		v, err := ParseView(label)
		if err != nil || !v.Time(now).Equal(want) {
			t.Errorf("ParseView(%q) at %v = %v, %v; want %v", label, now, v.Time(now), err, want)
		}
	}
	for _, bad := range []string{"", "yesterday", "2026-13-01", "3d", "P1M"} {
		if _, err := ParseView(bad); err == nil {
			t.Errorf("ParseView(%q): want an error", bad)
		}
	}
}

func TestExemptPatternsSpareWholePackagesOrSingleVersions(t *testing.T) {
	e := newExemptions([]string{"@our-org/*", "typescript@5.9.3", "left-pad@1.*", "lodash"})
	for _, c := range []struct {
		pkg, version string
		pkgOnly, ok  bool
	}{
		{"@our-org/util", "1.0.0", true, true},
		{"@other/util", "1.0.0", false, false},
		{"lodash", "4.0.0", true, true},
		{"lodash-es", "4.0.0", false, false},
		{"typescript", "5.9.3", false, true},
		{"typescript", "5.9.4", false, false},
		{"left-pad", "1.3.0", false, true},
		{"left-pad", "2.0.0", false, false},
	} {
		if got := e.pkg(c.pkg); got != c.pkgOnly {
			t.Errorf("pkg(%s) = %v", c.pkg, got)
		}
		if got := e.pkg(c.pkg) || e.version(c.pkg, c.version); got != c.ok {
			t.Errorf("%s@%s exempt = %v, want %v", c.pkg, c.version, got, c.ok)
		}
	}
	for _, bad := range []string{"", "@", "lodash@", "a[@1"} {
		if err := CheckExempt(bad); err == nil {
			t.Errorf("CheckExempt(%q): want an error", bad)
		}
	}
	for _, good := range []string{"@scope/name", "@scope/*@1.0.0", "name@*"} {
		if err := CheckExempt(good); err != nil {
			t.Errorf("CheckExempt(%q): %v", good, err)
		}
	}
}

func TestACutoffFailsClosedAndTheEarlierOfPolicyAndViewWins(t *testing.T) {
	now := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	env := newTestEnv(t)
	u := env.upstream(t, "http://127.0.0.1:1/", Options{MinReleaseAge: 72 * time.Hour, MinReleaseAgeExempt: []string{"pkg@9.9.9"}, Now: func() time.Time { return now }})
	c := u.Cutoff(context.Background(), "pkg")
	old := storage.Release{Version: "1.0.0", Published: now.Add(-96 * time.Hour)}
	young := storage.Release{Version: "1.1.0", Published: now.Add(-time.Hour)}
	seenLongAgo := storage.Release{Version: "1.2.0", FirstSeen: now.Add(-96 * time.Hour)}
	for _, tc := range []struct {
		name  string
		r     storage.Release
		known bool
		want  bool
	}{
		{"old", old, true, true},
		{"young", young, true, false},
		{"no upstream time, first seen long ago", seenLongAgo, true, true},
		{"no time at all", storage.Release{Version: "1.3.0"}, true, false},
		{"not recorded", storage.Release{}, false, false},
		{"young but exempt by version", storage.Release{Version: "9.9.9", Published: now}, true, true},
	} {
		if got := c.Allows(tc.r.Version, tc.r, tc.known); got != tc.want {
			t.Errorf("%s: Allows = %v, want %v", tc.name, got, tc.want)
		}
	}
	// A view a month back holds back what the policy allows, and exempts
	// nothing: it shows what existed then.
	view, _ := ParseView("2026-02-01")
	vc := u.Cutoff(WithView(context.Background(), view), "pkg")
	if vc.Allows("1.0.0", old, true) || vc.Allows("9.9.9", storage.Release{Version: "9.9.9", Published: now}, true) {
		t.Error("a view as of February allows a release of March")
	}
	// A view an hour back does not bypass the 3-day policy.
	recent, _ := ParseView("PT1H")
	if u.Cutoff(WithView(context.Background(), recent), "pkg").Allows("1.1.0", storage.Release{Version: "1.1.0", Published: now.Add(-2 * time.Hour)}, true) {
		t.Error("a view an hour back let a two-hour-old release through a 3-day policy")
	}
	if (Cutoff{}).Active() || !c.Active() {
		t.Error("Active")
	}
}

func TestCheckReleaseRefusesAYoungReleaseLearnsAnUnknownOneAndTheFirstDateRecordedWins(t *testing.T) {
	now := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	env := newTestEnv(t)
	u := env.upstream(t, "http://127.0.0.1:1/", Options{MinReleaseAge: 72 * time.Hour, Now: func() time.Time { return now }})
	ctx := context.Background()
	learnt := 0
	learn := func(published time.Time) func(context.Context) error {
		return func(ctx context.Context) error {
			learnt++
			return u.RecordReleases(ctx, "pkg", "doc-"+published.String(), func() ([]storage.Release, error) {
				return []storage.Release{{Name: "1.0.0", Version: "1.0.0", Published: published}}, nil
			})
		}
	}
	target := &ArtifactTarget{Path: "pkg/-/pkg-1.0.0.tgz", Package: "pkg", Version: "1.0.0", Release: "1.0.0", Learn: learn(now.Add(-time.Hour))}
	err := u.CheckRelease(ctx, target)
	var held *HeldBackError
	if !errors.As(err, &held) || StatusOf(err) != http.StatusForbidden || learnt != 1 {
		t.Fatalf("young release: %v (status %d, learnt %d times), want a 403 HeldBackError after learning it", err, StatusOf(err), learnt)
	}
	if want := now.Add(71 * time.Hour); !held.Until().Equal(want) || !strings.Contains(err.Error(), "2026-03-12T23:00:00Z") {
		t.Errorf("until %v (%v), want %v", held.Until(), err, want)
	}
	// The upstream now claims it is old: the first date recorded stands.
	target.Learn = learn(now.Add(-1000 * time.Hour))
	if err := target.Learn(ctx); err != nil {
		t.Fatal(err)
	}
	if err := u.CheckRelease(ctx, target); err == nil {
		t.Error("a release backdated by the upstream after larder saw it was allowed")
	}
	if got := env.metricValue(t, "larder_release_age_refusals_total", "registry", testRegistry, "cause", "min_release_age"); got != 2 {
		t.Errorf("refusals counted: %v, want 2", got)
	}
	// Once old enough, it is allowed, and stays so for the quick path.
	now = now.Add(72 * time.Hour)
	if err := u.CheckRelease(ctx, target); err != nil || !u.quickRelease(target) {
		t.Errorf("three days on: %v, quick %v", err, u.quickRelease(target))
	}
	// Without any record after learning, a release is new.
	ghost := &ArtifactTarget{Package: "pkg", Version: "2.0.0", Release: "2.0.0", Learn: func(context.Context) error { return nil }}
	if err := u.CheckRelease(ctx, ghost); !errors.As(err, &held) || !strings.Contains(err.Error(), "no publish time is known") {
		t.Errorf("a release larder has no date for: %v", err)
	}
	// An artifact of no release is never held back.
	if err := u.CheckRelease(ctx, &ArtifactTarget{Package: "pkg"}); err != nil {
		t.Errorf("no release: %v", err)
	}
}

func TestTheAllowedSetFollowsTheClockAndNewRecords(t *testing.T) {
	now := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	env := newTestEnv(t)
	u := env.upstream(t, "http://127.0.0.1:1/", Options{MinReleaseAge: 72 * time.Hour, Now: func() time.Time { return now }})
	ctx := context.Background()
	record := func(doc string, rels ...storage.Release) {
		t.Helper()
		if err := u.RecordReleases(ctx, "pkg", doc, func() ([]storage.Release, error) { return rels, nil }); err != nil {
			t.Fatal(err)
		}
	}
	allowed := func() string {
		t.Helper()
		set, _, err := u.AllowedReleases(ctx, u.Cutoff(ctx, "pkg"), "pkg")
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for n := range set {
			names = append(names, n)
		}
		slices.Sort(names)
		return strings.Join(names, " ")
	}
	record("a", storage.Release{Name: "1.0.0", Version: "1.0.0", Published: now.Add(-100 * time.Hour)},
		storage.Release{Name: "1.1.0", Version: "1.1.0", Published: now.Add(-24 * time.Hour)})
	if got := allowed(); got != "1.0.0" {
		t.Fatalf("allowed %q, want 1.0.0", got)
	}
	now = now.Add(47 * time.Hour)
	if got := allowed(); got != "1.0.0" {
		t.Fatalf("an hour before 1.1.0 is three days old: %q", got)
	}
	record("b", storage.Release{Name: "0.9.0", Version: "0.9.0", Published: now.Add(-1000 * time.Hour)})
	if got := allowed(); got != "0.9.0 1.0.0" {
		t.Fatalf("after a new record: %q", got)
	}
	now = now.Add(time.Hour)
	if got := allowed(); got != "0.9.0 1.0.0 1.1.0" {
		t.Fatalf("once 1.1.0 is three days old: %q", got)
	}
	now = now.Add(-2 * time.Hour) // a clock set back
	if got := allowed(); got != "0.9.0 1.0.0" {
		t.Fatalf("with the clock set back: %q", got)
	}
}

func TestNextAllowedIsWhenTheFirstReleaseHeldBackComesOfAge(t *testing.T) {
	now := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	env := newTestEnv(t)
	u := env.upstream(t, "http://127.0.0.1:1/", Options{MinReleaseAge: 72 * time.Hour, MinReleaseAgeExempt: []string{"pkg@2.0.0"},
		Now: func() time.Time { return now }})
	ctx := context.Background()
	next := func() time.Time {
		t.Helper()
		at, err := u.NextAllowed(ctx, "pkg")
		if err != nil {
			t.Fatal(err)
		}
		return at
	}
	if at := next(); !at.IsZero() {
		t.Fatalf("NextAllowed of a package with no release recorded: %v, want zero", at)
	}
	err := u.RecordReleases(ctx, "pkg", "a", func() ([]storage.Release, error) {
		return []storage.Release{
			{Name: "1.0.0", Version: "1.0.0", Published: now.Add(-100 * time.Hour)},
			{Name: "1.1.0", Version: "1.1.0", Published: now.Add(-24 * time.Hour)},
			{Name: "1.2.0", Version: "1.2.0", Published: now.Add(-12 * time.Hour)},
			{Name: "2.0.0", Version: "2.0.0", Published: now.Add(-time.Hour)}, // exempt
		}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if at, want := next(), now.Add(48*time.Hour); !at.Equal(want) {
		t.Fatalf("NextAllowed: %v, want %v, when 1.1.0 is three days old", at, want)
	}
	now = now.Add(48 * time.Hour)
	if at, want := next(), now.Add(12*time.Hour); !at.Equal(want) {
		t.Fatalf("NextAllowed once 1.1.0 is allowed: %v, want %v, when 1.2.0 is", at, want)
	}
	now = now.Add(12 * time.Hour)
	if at := next(); !at.IsZero() {
		t.Fatalf("NextAllowed with nothing held back: %v, want zero", at)
	}
}

func TestTheRefusalSaysWhetherItsDateIsAPublishTimeOrLardersFirstSight(t *testing.T) {
	at := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		firstSeen bool
		want      string
	}{
		{false, "published 2026-03-10T00:00:00Z"},
		{true, "first seen by larder 2026-03-10T00:00:00Z"},
	} {
		e := &HeldBackError{Registry: "r", Package: "leaf", Version: "1.0.0", Published: at, FirstSeen: tc.firstSeen, MinAge: 72 * time.Hour}
		if msg := e.Error(); !strings.Contains(msg, tc.want) {
			t.Errorf("first seen %v: %q, want it to say %q", tc.firstSeen, msg, tc.want)
		}
	}
}

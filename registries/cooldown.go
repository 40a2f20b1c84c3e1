package registries

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/larder-mirror/larder/storage"
)

// The release-age policy: versions younger than min_release_age are left
// out of documents and their downloads refused (403), and a /@{date}/ view
// does the same with the cutoff at its moment. registries decides; each
// kind supplies the facts, through a small hook:
//
//   - it records the releases its documents date (RecordReleases): a
//     release is what the ecosystem dates (an npm or Go version, a PyPI
//     file), with the upstream's own time, or none when the protocol
//     carries none (then the time larder first saw it stands in);
//   - it filters its listings to the releases AllowedReleases names, and
//     recomputes what points at a version left out (npm's dist-tags, Go's
//     @latest);
//   - it names, on each ArtifactTarget, the Package, Version and Release the
//     artifact belongs to, and a Learn that loads the document dating it:
//     Mount refuses the download of a held-back release before anything is
//     fetched for it, on the handler and the quick path alike.
//
// Fail closed: a release with no usable time is new, never old. The first
// time recorded for a release wins, so an upstream cannot move a release's
// date once larder has seen it.

// Cutoff is what of one package a request may see: releases published
// after its moment are held back. The zero Cutoff holds nothing back.
type Cutoff struct {
	pkg    string
	policy time.Time // now - min_release_age; zero: no policy applies
	minAge time.Duration
	view   time.Time // the /@{date}/ view's moment; zero: no view
	label  string
	exempt *exemptions
}

// Active says whether anything may be held back.
func (c Cutoff) Active() bool { return !c.policy.IsZero() || !c.view.IsZero() }

// at is the cutoff for one version, and whether the view set it.
func (c Cutoff) at(version string) (time.Time, bool) {
	policy := c.policy
	if !policy.IsZero() && c.exempt != nil && c.exempt.version(c.pkg, version) {
		policy = time.Time{}
	}
	switch {
	case c.view.IsZero():
		return policy, false
	case policy.IsZero() || c.view.Before(policy):
		return c.view, true
	}
	return policy, false
}

// ReleaseTime is the time a release is dated by: the upstream's, else when
// larder first saw it; zero when neither is known.
func ReleaseTime(r storage.Release) time.Time {
	if !r.Published.IsZero() {
		return r.Published
	}
	return r.FirstSeen
}

// Allows says whether a release (known: larder has a record of it) may be
// served under c.
func (c Cutoff) Allows(version string, r storage.Release, known bool) bool {
	if known && r.Version != "" {
		version = r.Version
	}
	at, _ := c.at(version)
	if at.IsZero() {
		return true
	}
	t := ReleaseTime(r)
	return known && !t.IsZero() && !t.After(at)
}

// Cutoff is what a request under ctx may see of pkg: min_release_age
// (unless pkg is exempt) and the view the request came through.
func (u *Upstream) Cutoff(ctx context.Context, pkg string) Cutoff {
	c := Cutoff{pkg: pkg, exempt: &u.exempt}
	now := u.opts.Now()
	if u.opts.MinReleaseAge > 0 && !u.exempt.pkg(pkg) {
		c.policy, c.minAge = now.Add(-u.opts.MinReleaseAge), u.opts.MinReleaseAge
	}
	if v, ok := ViewOf(ctx); ok {
		c.view, c.label = v.Time(now), v.Label
	}
	return c
}

// MayHoldBack says whether a cutoff applies to pkg for the request r (a
// Resolve has no context yet).
func (u *Upstream) MayHoldBack(r Request, pkg string) bool {
	return r.View.Label != "" || (u.opts.MinReleaseAge > 0 && !u.exempt.pkg(pkg))
}

// RecordReleases records the releases of pkg a document dates, once per
// document body: key names the body (its digest). list is called only when
// that body was not recorded yet. A release the upstream gives no time for
// is dated by when larder first sees it: the FirstSeen list gives, when it
// is earlier (a kind that knows larder saw the release before, such as
// when it first fetched a file of it), else now.
func (u *Upstream) RecordReleases(ctx context.Context, pkg, key string, list func() ([]storage.Release, error)) error {
	if u.releasesRecorded(pkg, key) {
		return nil
	}
	rels, err := list()
	if err != nil {
		return err
	}
	now := u.opts.Now()
	for i := range rels {
		if rels[i].FirstSeen.IsZero() || rels[i].FirstSeen.After(now) {
			rels[i].FirstSeen = now
		}
	}
	if u.env.Store.DB.ReadOnly() {
		// Nothing can be written: what this process learns is kept in
		// memory, so that a read-only mirror still dates what it serves.
		u.readOnlyReleases.add(pkg, rels)
	} else if err := u.env.Store.DB.RecordReleases(ctx, u.opts.Name, pkg, rels); err != nil {
		return err
	}
	u.releaseGen.Add(1)
	u.releaseRows.drop(pkg)
	u.recorded.put(pkg+"\x00"+key, true, nil, nil)
	return nil
}

// releasesRecorded reports whether the releases of pkg that the body key
// dates are recorded already. A read-only mirror keeps what it learns in a
// bounded memory, which may have let the package go since.
func (u *Upstream) releasesRecorded(pkg, key string) bool {
	_, ok := u.recorded.get(pkg + "\x00" + key)
	return ok && (!u.env.Store.DB.ReadOnly() || u.readOnlyReleases.has(pkg))
}

// RecordAndAllow records the releases of pkg a document dates
// (RecordReleases) and names those c lets it show (AllowedReleases). When c
// holds nothing back, nothing reads the record now: it is written behind
// the answer, which then waits for no commit of its own, and Close waits
// for it; a record that fails then is logged, and the next read of the
// same body records it again. So list must not rely on a context that
// ends with the request.
func (u *Upstream) RecordAndAllow(ctx context.Context, c Cutoff, pkg, key string, list func() ([]storage.Release, error)) (map[string]bool, string, error) {
	if c.Active() {
		if err := u.RecordReleases(ctx, pkg, key, list); err != nil {
			return nil, "", err
		}
		return u.AllowedReleases(ctx, c, pkg)
	}
	if !u.releasesRecorded(pkg, key) {
		u.goTracked(func(ctx context.Context) {
			if err := u.RecordReleases(ctx, pkg, key, list); err != nil {
				u.log.Warn("releases not recorded; the next read of the document records them", "registry", u.opts.Name, "package", pkg, "err", err)
			}
		})
	}
	return nil, "", nil
}

// Releases are the recorded releases of pkg, by name.
func (u *Upstream) Releases(ctx context.Context, pkg string) (map[string]storage.Release, error) {
	if rels, ok := u.releaseRows.get(pkg); ok {
		return rels, nil
	}
	// Read before the rows: a record written meanwhile changes it, and
	// then what was read is not kept (it may lack that record).
	gen := u.releaseGen.Load()
	rels, err := u.env.Store.DB.Releases(ctx, u.opts.Name, pkg)
	if err != nil {
		return nil, err
	}
	u.readOnlyReleases.addTo(pkg, rels)
	u.releaseRows.put(pkg, rels, nil, func() bool { return u.releaseGen.Load() == gen })
	return rels, nil
}

// AllowedReleases names the releases of pkg that c lets a listing show, nil
// when c holds nothing back, with a key that names that set for a render
// cache.
func (u *Upstream) AllowedReleases(ctx context.Context, c Cutoff, pkg string) (map[string]bool, string, error) {
	if !c.Active() {
		return nil, "", nil
	}
	// Read before the releases, as in Releases: a set computed from rows
	// older than a record is tagged older than it.
	gen := u.releaseGen.Load()
	rels, err := u.Releases(ctx, pkg)
	if err != nil {
		return nil, "", err
	}
	if c.view.IsZero() {
		// The set changes only when the policy's cutoff passes a release's
		// date: until then a listing reuses it, rather than sorting and
		// hashing thousands of names on every request.
		if s, ok := u.allowedSets.get(pkg); ok && s.gen == gen && c.policy.Before(s.until) && !c.policy.Before(s.from) {
			return s.allowed, s.key, nil
		}
	}
	allowed := make(map[string]bool, len(rels))
	var from, until time.Time
	for name, r := range rels {
		t := ReleaseTime(r)
		switch {
		case c.Allows(r.Version, r, true):
			allowed[name] = true
			if !t.After(c.policy) && t.After(from) {
				from = t
			}
		case !t.IsZero() && t.After(c.policy) && (until.IsZero() || t.Before(until)):
			until = t
		}
	}
	key := "age\x00" + HeldKey(allowed)
	if c.view.IsZero() {
		if until.IsZero() {
			until = time.Unix(1<<62, 0)
		}
		u.allowedSets.put(pkg, allowedSet{allowed: allowed, key: key, gen: gen, from: from, until: until}, nil, nil)
	}
	return allowed, key, nil
}

// allowedSet is a package's allowed releases under min_release_age, for
// any policy cutoff in [from, until): from the newest release allowed by
// its age to the oldest held back. gen is the count of records it was
// made after: any later record makes it stale.
type allowedSet struct {
	allowed     map[string]bool
	key         string
	gen         uint64
	from, until time.Time
}

// HeldBackVersions names, for the UI, the versions of pkg min_release_age
// holds back now (some of whose releases it does, for a kind that dates
// files), each with when the last of them will be served.
func (u *Upstream) HeldBackVersions(ctx context.Context, pkg string) (map[string]time.Time, error) {
	c := u.Cutoff(context.Background(), pkg)
	if !c.Active() {
		return nil, nil
	}
	rels, err := u.Releases(ctx, pkg)
	if err != nil {
		return nil, err
	}
	held := map[string]time.Time{}
	for _, r := range rels {
		if c.Allows(r.Version, r, true) {
			continue
		}
		// An undated release has no date to count from: zero, "not
		// known", rather than three days after the year 1.
		until := time.Time{}
		if t := ReleaseTime(r); !t.IsZero() {
			until = t.Add(c.minAge)
		}
		if old, seen := held[r.Version]; !seen || until.After(old) {
			held[r.Version] = until
		}
	}
	return held, nil
}

// NextAllowed is when min_release_age next lets a listing of pkg show a
// release it holds back now (the earliest moment one of them comes of
// age): until then AllowedReleases names the same set for pkg, under no
// view, as long as no release is recorded. Zero when it holds none back
// that a time will let through.
func (u *Upstream) NextAllowed(ctx context.Context, pkg string) (time.Time, error) {
	c := u.Cutoff(context.Background(), pkg)
	if c.policy.IsZero() {
		return time.Time{}, nil
	}
	rels, err := u.Releases(ctx, pkg)
	if err != nil {
		return time.Time{}, err
	}
	var next time.Time
	for _, r := range rels {
		t := ReleaseTime(r)
		if t.IsZero() || c.Allows(r.Version, r, true) {
			continue
		}
		if at := t.Add(c.minAge); next.IsZero() || at.Before(next) {
			next = at
		}
	}
	return next, nil
}

// HeldBackError refuses the download of a release the policy or a view
// holds back: a 403.
type HeldBackError struct {
	Registry, Package, Version string
	Release                    string // the file, when the ecosystem dates files
	// Published is the time the release is dated by; zero when larder
	// knows none (it then counts as new). FirstSeen says it is the time
	// larder first saw the release, the upstream giving none.
	Published time.Time
	FirstSeen bool
	MinAge    time.Duration // the policy's age, when the policy holds it back
	View      string        // the view's label, when a view holds it back
	Cutoff    time.Time
}

// Until is when the policy will serve the release; zero when that is not
// known, or a view holds it back.
func (e *HeldBackError) Until() time.Time {
	if e.View != "" || e.Published.IsZero() {
		return time.Time{}
	}
	return e.Published.Add(e.MinAge)
}

func (e *HeldBackError) Error() string {
	what := e.Package + "@" + e.Version
	if e.Release != "" && e.Release != e.Version {
		what += " (" + e.Release + ")"
	}
	published := "no publish time is known for it, so it counts as new"
	switch {
	case !e.Published.IsZero() && e.FirstSeen:
		published = "first seen by larder " + e.Published.UTC().Format(time.RFC3339) + " (the upstream gives no publish time)"
	case !e.Published.IsZero():
		published = "published " + e.Published.UTC().Format(time.RFC3339)
	}
	if e.View != "" {
		return fmt.Sprintf("%s is not in this view: the view /@%s/ shows what was published by %s, and %s",
			what, e.View, e.Cutoff.UTC().Format(time.RFC3339), published)
	}
	msg := fmt.Sprintf("%s is held back by larder's release-age policy (min_release_age %s): %s", what, FormatAge(e.MinAge), published)
	if until := e.Until(); !until.IsZero() {
		msg += "; it will be served from " + until.UTC().Format(time.RFC3339)
	}
	return msg
}

// CheckRelease refuses, with a *HeldBackError, the download t names when
// the request's cutoff holds its release back. A release larder has no
// record of is looked up first (t.Learn); one still unknown is new.
// Nothing is fetched for a refused artifact.
func (u *Upstream) CheckRelease(ctx context.Context, t *ArtifactTarget) error {
	if t.Release == "" {
		return nil
	}
	c := u.Cutoff(ctx, t.Package)
	if !c.Active() {
		return nil
	}
	allowedKey := t.Package + "\x00" + t.Release
	if c.view.IsZero() {
		if _, ok := u.allowed.get(allowedKey); ok {
			return nil
		}
	}
	rels, err := u.Releases(ctx, t.Package)
	if err != nil {
		return err
	}
	r, known := rels[t.Release]
	if !known && t.Learn != nil {
		if err := t.Learn(ctx); err != nil {
			return err
		}
		if rels, err = u.Releases(ctx, t.Package); err != nil {
			return err
		}
		r, known = rels[t.Release]
	}
	if c.Allows(t.Version, r, known) {
		if c.view.IsZero() {
			// Age only grows, and a release's date never moves: allowed
			// once, allowed for good (the quick path relies on it).
			u.allowed.put(allowedKey, true, nil, nil)
		}
		return nil
	}
	at, byView := c.at(t.Version)
	e := &HeldBackError{Registry: u.opts.Name, Package: t.Package, Version: t.Version, Release: t.Release, Cutoff: at}
	if known {
		e.Published, e.FirstSeen = ReleaseTime(r), r.Published.IsZero()
		if r.Version != "" {
			e.Version = r.Version
		}
	}
	cause := "min_release_age"
	if byView {
		e.View, cause = c.label, "view"
	} else {
		e.MinAge = c.minAge
	}
	u.env.Metrics.ReleaseAgeRefusals.WithLabelValues(u.opts.Name, cause).Inc()
	if _, logged := u.refusalsLogged.get(cause + "\x00" + allowedKey); !logged {
		u.refusalsLogged.put(cause+"\x00"+allowedKey, true, nil, nil)
		u.log.Info("download refused: release held back", "package", t.Package, "version", e.Version, "release", t.Release, "cause", cause, "why", e.Error())
	}
	return e
}

// quickRelease says whether the quick path may serve t without asking
// CheckRelease: no policy applies, or the release was allowed before.
func (u *Upstream) quickRelease(t *ArtifactTarget) bool {
	if t.Release == "" || u.opts.MinReleaseAge == 0 || u.exempt.pkg(t.Package) {
		return true
	}
	_, ok := u.allowed.get(t.Package + "\x00" + t.Release)
	return ok
}

// memoryReleases are releases recorded while the database is read-only.
type memoryReleases struct {
	mu sync.Mutex
	m  map[string]map[string]storage.Release
}

const maxMemoryReleasePackages = 10000

func (m *memoryReleases) has(pkg string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.m[pkg]
	return ok
}

func (m *memoryReleases) add(pkg string, rels []storage.Release) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m == nil || len(m.m) >= maxMemoryReleasePackages {
		m.m = map[string]map[string]storage.Release{}
	}
	have := m.m[pkg]
	if have == nil {
		have = map[string]storage.Release{}
		m.m[pkg] = have
	}
	for _, r := range rels {
		old, ok := have[r.Name]
		switch {
		case !ok:
			have[r.Name] = r
		case old.Published.IsZero() && !r.Published.IsZero():
			old.Published = r.Published
			have[r.Name] = old
		}
	}
}

// addTo adds what is known of pkg in memory to rels, read from the database.
func (m *memoryReleases) addTo(pkg string, rels map[string]storage.Release) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for name, r := range m.m[pkg] {
		if _, ok := rels[name]; !ok {
			rels[name] = r
		}
	}
}

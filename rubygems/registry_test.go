package rubygems

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/md5"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/larder-mirror/larder/registries"
	"github.com/larder-mirror/larder/registries/registriestest"
	"github.com/larder-mirror/larder/rubygems/rubygemstest"
	"github.com/larder-mirror/larder/storage/storagetest"
)

// testMirror is a registry on its own data folder (env), reading from up.
type testMirror struct {
	reg *Registry
	m   *registries.Mounted
}

func newTestMirror(t testing.TB, up *rubygemstest.Server, env registries.Env, opts registries.Options) testMirror {
	t.Helper()
	opts.Name = "gems"
	opts.Upstream, _ = url.Parse(up.URL)
	opts.Verify = Kind.Verify
	if opts.MetadataTTL == 0 {
		opts.MetadataTTL = time.Hour
	}
	opts.ProbeInterval = 50 * time.Millisecond
	u := registries.NewUpstream(env, opts)
	t.Cleanup(u.Close)
	reg := New(u, "")
	return testMirror{reg: reg, m: registries.Mount(reg)}
}

func (m testMirror) get(t testing.TB, path string, header ...string) *http.Response {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "http://larder.test"+path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	m.m.ServeHTTP(rec, r)
	// What a client received is recorded just after (Upstream.Settle).
	m.reg.up.Settle(context.Background())
	return rec.Result()
}

func body(t testing.TB, r *http.Response) []byte {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func md5ETag(b []byte) string { return fmt.Sprintf(`"%x"`, md5.Sum(b)) }

func publish(up *rubygemstest.Server, name, version string) {
	up.Publish(rubygemstest.Gem{Name: name, Version: version, Body: []byte(name + "-" + version + " bytes")})
}

func TestARangeOfVersionsIsTheTailOnlyWhenItContinuesTheCopyTheClientNames(t *testing.T) {
	up := rubygemstest.New()
	defer up.Close()
	publish(up, "alpha", "1.0.0")
	env := registriestest.NewEnv(t)
	m := newTestMirror(t, up, env, registries.Options{})

	r := m.get(t, "/versions")
	old := body(t, r)
	if r.StatusCode != 200 || r.Header.Get("Etag") != md5ETag(old) {
		t.Fatalf("GET /versions: %d, ETag %q, want 200 with the MD5 of %q", r.StatusCode, r.Header.Get("Etag"), old)
	}

	publish(up, "beta", "2.0.0")
	later := newTestMirror(t, up, env, registries.Options{MetadataTTL: time.Nanosecond})
	start := fmt.Sprintf("bytes=%d-", len(old)-1)

	// bundler's way: its copy's MD5, and a range from its last byte.
	r = later.get(t, "/versions", "Range", start, "If-None-Match", md5ETag(old))
	tail := body(t, r)
	full := up.Versions()
	if r.StatusCode != http.StatusPartialContent {
		t.Fatalf("a range that continues the client's copy: %d, want 206", r.StatusCode)
	}
	if got := append(old[:len(old)-1:len(old)-1], tail...); !bytes.Equal(got, full) {
		t.Fatalf("the copy and the tail make %q, want the upstream's %q", got, full)
	}
	if want := fmt.Sprintf("bytes %d-%d/%d", len(old)-1, len(full)-1, len(full)); r.Header.Get("Content-Range") != want {
		t.Errorf("Content-Range %q, want %q", r.Header.Get("Content-Range"), want)
	}
	if r.Header.Get("Etag") != md5ETag(full) {
		t.Errorf("the 206's ETag %q is not the MD5 of the whole file, %s", r.Header.Get("Etag"), md5ETag(full))
	}

	for _, tc := range []struct{ what, ifNoneMatch string }{
		{"a copy that is not the first bytes of the file", md5ETag([]byte("created_at: another file\n---\n"))},
		{"no copy named", ""},
	} {
		h := []string{"Range", start}
		if tc.ifNoneMatch != "" {
			h = append(h, "If-None-Match", tc.ifNoneMatch)
		}
		r = later.get(t, "/versions", h...)
		if b := body(t, r); r.StatusCode != 200 || !bytes.Equal(b, full) {
			t.Errorf("a range with %s: %d with %d bytes, want the whole file, 200", tc.what, r.StatusCode, len(b))
		}
	}
	if r = later.get(t, "/versions", "Range", start, "If-None-Match", md5ETag(full)); r.StatusCode != http.StatusNotModified {
		t.Errorf("a range with the current copy named: %d, want 304", r.StatusCode)
	}

	// The gzip form: the same MD5, weak, which bundler checks once decoded.
	r = later.get(t, "/versions", "Accept-Encoding", "gzip")
	zr, err := gzip.NewReader(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := io.ReadAll(zr)
	if !bytes.Equal(plain, full) || r.Header.Get("Etag") != "W/"+md5ETag(full) {
		t.Errorf("the gzip form: ETag %q, want W/%s of the plain bytes", r.Header.Get("Etag"), md5ETag(full))
	}
}

func TestOfflineVersionsGiveTheMD5OfEachInfoFileAsServedAndARangeIsNeverSplicedOntoTheOnlineCopy(t *testing.T) {
	up := rubygemstest.New()
	defer up.Close()
	for _, v := range []string{"1.0.0", "1.1.0"} {
		publish(up, "alpha", v)
	}
	publish(up, "beta", "1.0.0")
	env := registriestest.NewEnv(t)
	online := newTestMirror(t, up, env, registries.Options{})
	onlineVersions := body(t, online.get(t, "/versions"))
	if r := online.get(t, "/gems/alpha-1.0.0.gem"); r.StatusCode != 200 {
		t.Fatalf("GET alpha-1.0.0.gem: %d", r.StatusCode)
	}
	// beta's info file held, none of its gems.
	online.get(t, "/info/beta")

	offline := newTestMirror(t, up, env, registries.Options{Offline: true, MetadataTTL: time.Nanosecond})
	r := offline.get(t, "/info/alpha")
	info := body(t, r)
	if r.StatusCode != 200 || !strings.Contains(string(info), "\n1.0.0 ") || strings.Contains(string(info), "1.1.0") {
		t.Fatalf("offline /info/alpha: %d\n%s\nwant 1.0.0 alone", r.StatusCode, info)
	}
	if r.Header.Get("Etag") != md5ETag(info) {
		t.Errorf("offline /info/alpha: ETag %q, want the MD5 of what it sends, %s", r.Header.Get("Etag"), md5ETag(info))
	}
	if r := offline.get(t, "/info/beta"); r.StatusCode != http.StatusNotFound {
		t.Errorf("offline /info/beta, none of whose gems is held: %d, want 404", r.StatusCode)
	}
	versions := body(t, offline.get(t, "/versions"))
	if want := fmt.Sprintf("---\nalpha 1.0.0 %x\n", md5.Sum(info)); string(versions) != want {
		t.Fatalf("offline /versions:\n%s\nwant\n%s", versions, want)
	}
	names := body(t, offline.get(t, "/names"))
	if string(names) != "---\nalpha\n" {
		t.Errorf("offline /names: %q", names)
	}

	// bundler's copy is the online file: the offline one is no
	// continuation of it, and comes whole.
	r = offline.get(t, "/versions", "Range", fmt.Sprintf("bytes=%d-", len(versions)-1), "If-None-Match", md5ETag(onlineVersions))
	if b := body(t, r); r.StatusCode != 200 || !bytes.Equal(b, versions) {
		t.Fatalf("a range from the online copy, offline: %d %q, want the whole offline file", r.StatusCode, b)
	}

	// A .gem no longer held leaves the offline view, /versions too.
	if err := env.Store.ForgetArtifact(context.Background(), "gems", "gems/alpha-1.0.0.gem"); err != nil {
		t.Fatal(err)
	}
	if r := offline.get(t, "/info/alpha"); r.StatusCode != http.StatusNotFound {
		t.Errorf("offline /info/alpha once its one held .gem is gone: %d, want 404", r.StatusCode)
	}
	if versions := body(t, offline.get(t, "/versions")); string(versions) != "---\n" {
		t.Fatalf("offline /versions once alpha's one held .gem is gone:\n%s\nwant no gem", versions)
	}
}

func TestAGemWhoseNameReadsSeveralWaysIsFoundThroughTheInfoFileThatNamesIt(t *testing.T) {
	up := rubygemstest.New()
	defer up.Close()
	// "a-1.0-b-2.0.gem": a 1.0 of a for platform b-2.0, or a 2.0 of a-1.0-b.
	publish(up, "a-1.0-b", "2.0")
	m := newTestMirror(t, up, registriestest.NewEnv(t), registries.Options{})
	r := m.get(t, "/gems/a-1.0-b-2.0.gem")
	if b := body(t, r); r.StatusCode != 200 || string(b) != "a-1.0-b-2.0 bytes" {
		t.Fatalf("GET /gems/a-1.0-b-2.0.gem: %d %q", r.StatusCode, b)
	}
	if r := m.get(t, "/gems/a-9.9.gem"); r.StatusCode != http.StatusNotFound {
		t.Errorf("a gem no info file names: %d, want 404", r.StatusCode)
	}
}

func TestPathsLarderWillNotServeAreA404ThatSaysWhy(t *testing.T) {
	up := rubygemstest.New()
	defer up.Close()
	m := newTestMirror(t, up, registriestest.NewEnv(t), registries.Options{})
	for _, p := range []string{"/api/v1/dependencies", "/info/..", "/info/a%2fb", "/gems/nover.gem", "/gems/../x.gem", "/other"} {
		r := m.get(t, p)
		if b := body(t, r); r.StatusCode != http.StatusNotFound || !strings.HasPrefix(string(b), "not found: ") {
			t.Errorf("GET %s: %d %q, want a 404 that says why", p, r.StatusCode, b)
		}
	}
	if n := up.Count("GET", "/api/v1/dependencies"); n != 0 {
		t.Errorf("the upstream was asked for the dependency API")
	}
	r := m.get(t, "/")
	if r.StatusCode != 200 {
		t.Errorf("GET of the mount, which gem asks for: %d, want 200", r.StatusCode)
	}
	req := httptest.NewRequest(http.MethodPost, "http://larder.test/api/v1/gems", nil)
	rec := httptest.NewRecorder()
	m.m.ServeHTTP(rec, req)
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST (gem push): %d, want 405", rec.Code)
	}
}

func TestAnInfoFileThatIsNotOneIsA502AndNotKept(t *testing.T) {
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "---\nnot-a-version |checksum:zz\n")
	}))
	defer bad.Close()
	u, _ := url.Parse(bad.URL + "/")
	env := registriestest.NewEnv(t)
	up := registries.NewUpstream(env, registries.Options{Name: "gems", Upstream: u, MetadataTTL: time.Hour, Verify: Kind.Verify})
	defer up.Close()
	m := registries.Mount(New(up, ""))
	rec := httptest.NewRecorder()
	m.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://larder.test/info/alpha", nil))
	if rec.Code != http.StatusBadGateway || !strings.Contains(rec.Body.String(), "not a version") {
		t.Fatalf("an unusable info file: %d %q, want a 502 that says why", rec.Code, rec.Body.String())
	}
	if _, err := up.Cached(t.Context(), "alpha", variantInfo); err == nil {
		t.Errorf("the unusable info file was kept")
	}
}

func TestDescribeListsReleasesNewestFirstWithTheirRequirementsAndHeldFiles(t *testing.T) {
	up := rubygemstest.New()
	defer up.Close()
	publish(up, "alpha", "1.9.0")
	up.Publish(rubygemstest.Gem{Name: "alpha", Version: "1.10.0", Body: []byte("new"), Deps: []string{"beta:~> 2.0&>= 2.1"}, Ruby: ">= 3.0"})
	m := newTestMirror(t, up, registriestest.NewEnv(t), registries.Options{})
	if r := m.get(t, "/gems/alpha-1.10.0.gem"); r.StatusCode != 200 {
		t.Fatalf("GET alpha-1.10.0.gem: %d", r.StatusCode)
	}
	pi, err := m.reg.Describe(t.Context(), "alpha")
	if err != nil {
		t.Fatal(err)
	}
	if len(pi.Versions) != 2 || pi.Versions[0].Version != "1.10.0" || pi.Versions[1].Version != "1.9.0" {
		t.Fatalf("versions %+v, want 1.10.0 then 1.9.0", pi.Versions)
	}
	v := pi.Versions[0]
	if !v.Cached || pi.Versions[1].Cached || v.Install != "gem install alpha -v 1.10.0" {
		t.Errorf("1.10.0: cached %v, 1.9.0 cached %v, install %q", v.Cached, pi.Versions[1].Cached, v.Install)
	}
	want := []registries.Dependency{{Name: "beta", Constraint: "~> 2.0, >= 2.1"}, {Name: "ruby", Constraint: ">= 3.0", Note: "required Ruby"}}
	if !v.DependenciesKnown || fmt.Sprint(v.Dependencies) != fmt.Sprint(want) {
		t.Errorf("dependencies %+v, want %+v", v.Dependencies, want)
	}
	if _, err := m.reg.Describe(t.Context(), "nothing"); err == nil {
		t.Errorf("Describe of a gem larder holds nothing of: no error")
	}
}

func TestTheFullIndexIsTheUpstreamsOnlineAndWrittenFromWhatIsHeldOffline(t *testing.T) {
	up := rubygemstest.New()
	defer up.Close()
	for _, v := range []string{"1.0.0", "1.1.0", "2.0.0.rc1"} {
		publish(up, "alpha", v)
	}
	up.Publish(rubygemstest.Gem{Name: "alpha", Version: "1.1.0", Platform: "java", Body: []byte("java")})
	upstreams := []byte{0x1f, 0x8b, 'u', 'p', 's', 't', 'r', 'e', 'a', 'm'}
	up.SetFullIndex("specs.4.8.gz", upstreams)
	env := registriestest.NewEnv(t)
	online := newTestMirror(t, up, env, registries.Options{})
	if b := body(t, online.get(t, "/specs.4.8.gz")); !bytes.Equal(b, upstreams) {
		t.Fatalf("online specs.4.8.gz: %q, want the upstream's", b)
	}
	for _, f := range []string{"alpha-1.0.0", "alpha-1.1.0", "alpha-1.1.0-java", "alpha-2.0.0.rc1"} {
		if r := online.get(t, "/gems/"+f+".gem"); r.StatusCode != 200 {
			t.Fatalf("GET %s.gem: %d", f, r.StatusCode)
		}
	}
	publish(up, "alpha", "1.2.0") // not held

	offline := newTestMirror(t, up, env, registries.Options{Offline: true, MetadataTTL: time.Nanosecond})
	for file, want := range map[string][]specsTuple{
		"specs.4.8.gz":            {{"alpha", "1.0.0", "ruby"}, {"alpha", "1.1.0", "ruby"}, {"alpha", "1.1.0", "java"}},
		"latest_specs.4.8.gz":     {{"alpha", "1.1.0", "java"}, {"alpha", "1.1.0", "ruby"}},
		"prerelease_specs.4.8.gz": {{"alpha", "2.0.0.rc1", "ruby"}},
	} {
		r := offline.get(t, "/"+file)
		if b := body(t, r); r.StatusCode != 200 || !bytes.Equal(b, marshalSpecs(want)) {
			t.Errorf("offline %s: %d, not the held releases %v", file, r.StatusCode, want)
		}
	}
}

// /versions read from the upstream may list, for a gem, another MD5 than
// that of the info file larder holds within its TTL: the upstream has a
// newer one. Larder then asks for it again rather than serve the old one,
// so a release bundler sees in /versions is in /info at once; an info
// file whose MD5 /versions lists is served from the copy, and one asked
// for again is asked once.
func TestAnInfoFileVersionsListsAnotherMD5ForIsRevalidated(t *testing.T) {
	up := rubygemstest.New()
	defer up.Close()
	clock := &testClock{now: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
	env := registriestest.NewEnv(t)
	m := newTestMirror(t, up, env, registries.Options{Now: clock.Now})
	publish(up, "alpha", "1.0.0")
	publish(up, "beta", "1.0.0")
	body(t, m.get(t, "/info/alpha"))
	body(t, m.get(t, "/info/beta"))

	publish(up, "alpha", "1.1.0")
	clock.add(30 * time.Minute) // both info files are within their TTL (an hour)
	versions := string(body(t, m.get(t, "/versions")))
	// The quick path, which never waits on the upstream, leaves it to the
	// handler.
	if _, ok := m.m.Quick(registries.Request{Path: "/info/alpha", Host: "larder.test"}); ok || up.Count("GET", "/info/alpha") != 1 {
		t.Fatalf("the quick path answered %v, the upstream asked %d times for /info/alpha; want no answer, nothing asked", ok, up.Count("GET", "/info/alpha"))
	}
	for i := 0; i < 2; i++ {
		info := body(t, m.get(t, "/info/alpha"))
		if !strings.Contains(string(info), "\n1.1.0 ") {
			t.Fatalf("/info/alpha after /versions listed 1.1.0:\n%s\nwant 1.1.0", info)
		}
		if !strings.HasSuffix(versions, " "+md5Hex(info)+"\n") {
			t.Fatalf("/versions:\n%s\nwant alpha's last line with the MD5 of /info/alpha as served, %s", versions, md5Hex(info))
		}
	}
	body(t, m.get(t, "/info/beta"))
	if n := up.Count("GET", "/info/alpha"); n != 2 {
		t.Errorf("the upstream was asked for /info/alpha %d times, want 2 (the first read, and once again)", n)
	}
	if n := up.Count("GET", "/info/beta"); n != 1 {
		t.Errorf("the upstream was asked for /info/beta %d times, want 1: /versions lists the MD5 of the copy", n)
	}
}

// Without a release-age cutoff, a cold info file is answered as soon as it
// is checked, while its row commits: bundler asks for the next gem's
// without waiting for larder's database. The .gem it announces is fetched
// once the row is in, as ever, and its releases are recorded behind the
// answer.
func TestAColdInfoFileIsAnsweredBeforeItsCommit(t *testing.T) {
	t.Parallel()
	up := rubygemstest.New()
	defer up.Close()
	publish(up, "alpha", "1.0.0")
	env := registriestest.NewEnv(t)
	m := newTestMirror(t, up, env, registries.Options{})
	release := sync.OnceFunc(storagetest.HoldWrites(t, filepath.Join(env.Store.Dir, "larder.db")))
	defer release()

	w := registriestest.AnswerWithin(t, m.m, "http://larder.test/info/alpha")
	if w.Code != http.StatusOK || !bytes.Equal(w.Body.Bytes(), up.Info("alpha")) {
		t.Fatalf("the info file while its row commits: %d %q, want %q", w.Code, w.Body, up.Info("alpha"))
	}
	release()
	ctx := context.Background()
	if err := m.reg.up.AwaitCommit(ctx, "alpha", variantInfo); err != nil {
		t.Fatal(err)
	}
	if _, err := m.reg.up.Cached(ctx, "alpha", variantInfo); err != nil {
		t.Errorf("the info file answered was not kept: %v", err)
	}
	registriestest.AwaitRelease(t, m.reg.up, "alpha", "1.0.0")
	if r := m.get(t, "/gems/alpha-1.0.0.gem"); r.StatusCode != 200 || string(body(t, r)) != "alpha-1.0.0 bytes" {
		t.Errorf("the .gem it announces: %d", r.StatusCode)
	}
	if n := up.Count("GET", "/info/alpha"); n != 1 {
		t.Errorf("the upstream was asked for the info file %d times, want 1", n)
	}
}

package cargo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/larder-mirror/larder/cargo/cargotest"
	"github.com/larder-mirror/larder/registries"
	"github.com/larder-mirror/larder/registries/registriestest"
	"github.com/larder-mirror/larder/storage/storagetest"
)

type mirror struct {
	up  *registries.Upstream
	reg *Registry
	m   *registries.Mounted
}

// newMirror mounts a cargo registry named "cargo" on upstream, whose
// .crate files it downloads from download.
func newMirror(t *testing.T, upstream, download, publicURL string) *mirror {
	t.Helper()
	ro := registries.Options{Name: "cargo", MetadataTTL: time.Hour, Verify: Kind.Verify, ProbeInterval: 50 * time.Millisecond}
	ro.Upstream, _ = url.Parse(upstream)
	opts, err := decodeKeys(registries.KindKeys{"download_url": download}, &ro)
	if err != nil {
		t.Fatal(err)
	}
	up := registries.NewUpstream(registriestest.NewEnv(t), ro)
	t.Cleanup(up.Close)
	reg := New(up, publicURL, opts.(Options))
	return &mirror{up: up, reg: reg, m: registries.Mount(reg)}
}

func (m *mirror) do(method, path string) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	m.m.ServeHTTP(w, httptest.NewRequest(method, "http://larder.test"+path, nil))
	// What a client received is recorded just after (Upstream.Settle).
	m.up.Settle(context.Background())
	return w
}

func TestConfigJSONPointsCargoAtLarderForEveryDownload(t *testing.T) {
	fake := cargotest.New()
	defer fake.Close()
	for publicURL, want := range map[string]string{
		"":                            `{"dl":"http://larder.test/cargo/api/v1/crates"}` + "\n",
		"https://mirror.example.com/": `{"dl":"https://mirror.example.com/cargo/api/v1/crates"}` + "\n",
	} {
		m := newMirror(t, fake.URL, fake.DownloadURL(), publicURL)
		w := m.do(http.MethodGet, "/config.json")
		if w.Code != 200 || w.Body.String() != want || w.Header().Get("Content-Type") != "application/json" {
			t.Errorf("public_url %q: config.json %d %q (%s), want %q", publicURL, w.Code, w.Body, w.Header().Get("Content-Type"), want)
		}
	}
	if n := fake.Count("GET", "/config.json"); n != 0 {
		t.Errorf("larder asked the upstream for its config.json %d times: it is larder's own", n)
	}
	// Through a view, cargo downloads within it: the view's cutoff holds
	// for a version a lockfile names too.
	view, err := registries.ParseView("P3D")
	if err != nil {
		t.Fatal(err)
	}
	m := newMirror(t, fake.URL, fake.DownloadURL(), "")
	w := httptest.NewRecorder()
	m.m.ServeHTTP(w, httptest.NewRequestWithContext(registries.WithView(context.Background(), view), http.MethodGet, "http://larder.test/config.json", nil))
	if want := `{"dl":"http://larder.test/@P3D/cargo/api/v1/crates"}` + "\n"; w.Code != 200 || w.Body.String() != want {
		t.Errorf("config.json through /@P3D/: %d %q, want %q", w.Code, w.Body, want)
	}
}

func TestLarderIsReadOnlyAndSaysWhatItDoesNotServe(t *testing.T) {
	fake := cargotest.New()
	defer fake.Close()
	m := newMirror(t, fake.URL, fake.DownloadURL(), "")
	if w := m.do(http.MethodPut, "/api/v1/crates/new"); w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("PUT (cargo publish): %d %q, want 405", w.Code, w.Body)
	}
	for path, says := range map[string]string{
		"/SE/RD/serde":                       "se/rd/serde",
		"/api/v1/crates/serde/x/download":    "not a crate version",
		"/api/v1/crates/se%20rde/1/download": "not a crate name",
		"/index.html":                        "config.json",
	} {
		w := m.do(http.MethodGet, path)
		if w.Code != http.StatusNotFound || !strings.Contains(w.Body.String(), says) || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/plain") {
			t.Errorf("GET %s: %d %q, want a 404 that says %q", path, w.Code, w.Body, says)
		}
	}
	if n := fake.Count("GET", "/se/rd/serde"); n != 0 {
		t.Errorf("a path larder does not serve reached the upstream")
	}
}

func TestAnIndexFileThatNamesAnotherCrateIsA502AndKeepsNothing(t *testing.T) {
	hostile := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"name":"serde","vers":"1.0.0","cksum":"` + sumA + `"}` + "\n" + `{"name":"tokio","vers":"9.9.9","cksum":"` + sumB + `"}` + "\n"))
	}))
	defer hostile.Close()
	m := newMirror(t, hostile.URL+"/", hostile.URL+"/dl/{crate}/{version}", "")
	w := m.do(http.MethodGet, "/se/rd/serde")
	if w.Code != http.StatusBadGateway || !strings.Contains(w.Body.String(), "tokio") {
		t.Fatalf("an index file of serde with a line of tokio: %d %q, want a 502 that names it", w.Code, w.Body)
	}
	ctx := context.Background()
	if _, err := m.up.Cached(ctx, "serde", variantIndex); err == nil {
		t.Error("the refused index file was kept")
	}
	for _, pkg := range []string{"serde", "tokio"} {
		if arts, _ := m.up.Store().PackageArtifacts(ctx, "cargo", pkg); len(arts) != 0 {
			t.Errorf("the refused index file announced %v", arts)
		}
	}
}

func TestTheUIShowsACratesVersionsDependenciesAndHeldFiles(t *testing.T) {
	fake := cargotest.New()
	defer fake.Close()
	fake.Publish("tiny-dep", "0.1.0")
	fake.Publish("Greet", "1.0.0")
	crate := fake.Publish("Greet", "1.1.0", cargotest.Dep{Name: "tiny-dep", Req: "^0.1", Features: []string{}, DefaultFeatures: true, Kind: "normal"},
		cargotest.Dep{Name: "dev-only", Req: "1", Features: []string{}, Kind: "dev", Optional: true})
	m := newMirror(t, fake.URL, fake.DownloadURL(), "")
	if w := m.do(http.MethodGet, "/api/v1/crates/Greet/1.1.0/download"); w.Code != 200 || w.Body.String() != string(crate) {
		t.Fatalf("GET Greet 1.1.0's .crate: %d", w.Code)
	}
	info, err := m.reg.Describe(context.Background(), "greet")
	if err != nil {
		t.Fatal(err)
	}
	if info.Name != "Greet" || len(info.Versions) != 2 || info.Versions[0].Version != "1.1.0" || info.MetadataFetched.IsZero() {
		t.Fatalf("Describe: %+v", info)
	}
	v := info.Versions[0]
	if !v.Cached || info.Versions[1].Cached || v.Install != "cargo add Greet@=1.1.0" || !v.DependenciesKnown || len(v.Dependencies) != 2 ||
		v.Dependencies[0] != (registries.Dependency{Name: "tiny-dep", Constraint: "^0.1"}) ||
		v.Dependencies[1] != (registries.Dependency{Name: "dev-only", Constraint: "1", Note: "dev, optional"}) {
		t.Fatalf("Greet 1.1.0: %+v", v)
	}
	if len(v.Files) != 1 || v.Files[0].Name != "Greet-1.1.0.crate" || v.Files[0].Path != "api/v1/crates/Greet/1.1.0/download" || !v.Files[0].Cached {
		t.Fatalf("Greet 1.1.0's files: %+v", v.Files)
	}
	if _, err := m.reg.Describe(context.Background(), "nosuch"); err == nil {
		t.Fatal("Describe of a crate larder never saw")
	}
	setup := m.reg.ClientSetup("http://larder.test/cargo/")
	if len(setup) != 1 || !strings.Contains(setup[0].Shell, `registry = "sparse+http://larder.test/cargo/"`) || !strings.Contains(setup[0].Shell, `replace-with = "larder"`) {
		t.Fatalf("ClientSetup: %+v", setup)
	}
}

func TestAnArchiveIsHeldToTheIndexFilesRules(t *testing.T) {
	fake := cargotest.New()
	defer fake.Close()
	m := newMirror(t, "https://index.crates.io/", DefaultDownloadURL, "")
	var _ registries.ArchiveRules = m.reg
	for raw, ok := range map[string]bool{
		"https://static.crates.io/crates/serde/serde-1.0.0.crate": true,
		"https://index.crates.io/serde/1.0.0":                     true,
		"https://evil.example.com/crates/serde/serde-1.0.0.crate": false,
		"file:///etc/passwd":                                      false,
		"https://user@static.crates.io/x":                         false,
	} {
		if _, err := m.reg.ArtifactURL(raw); (err == nil) != ok {
			t.Errorf("ArtifactURL(%q): %v, want accepted %v", raw, err, ok)
		}
	}
	arts, err := m.reg.Declared("serde", variantIndex, []byte(serdeIndex))
	if err != nil || len(arts) != 2 || arts[1].Path != "api/v1/crates/serde/1.0.1/download" || arts[1].Integrity == "" {
		t.Fatalf("Declared: %+v, %v", arts, err)
	}
	if _, err := m.reg.Declared("serde", variantIndex, []byte(`{"name":"tokio","vers":"1.0.0"}`)); err == nil {
		t.Fatal("an archived index file naming another crate was accepted")
	}
	if arts, err := m.reg.Declared("serde", "other", []byte("x")); err != nil || arts != nil {
		t.Fatalf("another variant: %v, %v", arts, err)
	}
}

func TestACrateFoundByItsChecksumIsFetchedOnceItsIndexLineNamesIt(t *testing.T) {
	crate := cargotest.Crate("bysum", "1.0.0", nil)
	sum := sha256.Sum256(crate)
	hexsum := hex.EncodeToString(sum[:])
	var asked []string
	var mu sync.Mutex
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		asked = append(asked, r.URL.Path)
		mu.Unlock()
		switch r.URL.Path {
		case "/by/su/bysum":
			w.Write([]byte(`{"name":"bysum","vers":"1.0.0","deps":[],"cksum":"` + hexsum + `","features":{},"yanked":false}` + "\n"))
		case "/blobs/" + hexsum:
			w.Write(crate)
		default:
			http.NotFound(w, r)
		}
	}))
	defer up.Close()
	m := newMirror(t, up.URL+"/", up.URL+"/blobs/{sha256-checksum}", "")
	// Asked for before its index file: no URL follows from the path alone.
	w := m.do(http.MethodGet, "/api/v1/crates/bysum/1.0.0/download")
	if w.Code != 200 || w.Body.String() != string(crate) {
		t.Fatalf("GET bysum's .crate: %d %q", w.Code, w.Body)
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(asked, " ") != "/by/su/bysum /blobs/"+hexsum {
		t.Fatalf("the upstream was asked for %v, want the index file, then the .crate by its checksum", asked)
	}
}

func TestOfflineAnIndexFileWithNothingHeldIsA404ThatSaysWhy(t *testing.T) {
	fake := cargotest.New()
	defer fake.Close()
	fake.Publish("nothing-held", "1.0.0")
	env := registriestest.NewEnv(t)
	online := newMirrorOn(t, env, fake, registries.Options{})
	if w := online.do(http.MethodGet, "/no/th/nothing-held"); w.Code != 200 {
		t.Fatalf("GET the index file: %d", w.Code)
	}
	offline := newMirrorOn(t, env, fake, registries.Options{Offline: true})
	w := offline.do(http.MethodGet, "/no/th/nothing-held")
	if w.Code != http.StatusNotFound || !strings.Contains(w.Body.String(), "nothing-held") || !strings.Contains(strings.ToLower(w.Body.String()), "offline") {
		t.Fatalf("offline, an index file none of whose crates is held: %d %q, want a 404 that says larder is offline", w.Code, w.Body)
	}
}

// newMirrorOn is a registry named "cargo" on env, reading from fake.
func newMirrorOn(t *testing.T, env registries.Env, fake *cargotest.Server, ro registries.Options) *mirror {
	t.Helper()
	ro.Name, ro.MetadataTTL, ro.Verify = "cargo", time.Hour, Kind.Verify
	ro.Upstream, _ = url.Parse(fake.URL)
	up := registries.NewUpstream(env, ro)
	t.Cleanup(up.Close)
	reg := New(up, "", Options{DownloadURL: fake.DownloadURL()})
	return &mirror{up: up, reg: reg, m: registries.Mount(reg)}
}

// A cold index file is answered as soon as it is checked, while its row
// commits: cargo asks for the next crate's index without waiting for
// larder's database. The .crate it announces is fetched once the row is
// in, as ever.
func TestAColdIndexFileIsAnsweredBeforeItsCommit(t *testing.T) {
	t.Parallel()
	fake := cargotest.New()
	defer fake.Close()
	crate := fake.Publish("serde", "1.0.0")
	m := newMirror(t, fake.URL, fake.DownloadURL(), "")
	release := sync.OnceFunc(storagetest.HoldWrites(t, filepath.Join(m.up.Store().Dir, "larder.db")))
	defer release()

	w := registriestest.AnswerWithin(t, m.m, "http://larder.test/se/rd/serde")
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"vers":"1.0.0"`) {
		t.Fatalf("the index file while its row commits: %d %q", w.Code, w.Body)
	}
	release()
	ctx := context.Background()
	if err := m.up.AwaitCommit(ctx, "serde", variantIndex); err != nil {
		t.Fatal(err)
	}
	if _, err := m.up.Cached(ctx, "serde", variantIndex); err != nil {
		t.Errorf("the index file answered was not kept: %v", err)
	}
	// The versions it dates are recorded behind the answer, for a
	// release-age policy turned on later.
	registriestest.AwaitRelease(t, m.up, "serde", "1.0.0")
	if w := m.do(http.MethodGet, "/api/v1/crates/serde/1.0.0/download"); w.Code != 200 || w.Body.String() != string(crate) {
		t.Errorf("the .crate it announces: %d (%d bytes)", w.Code, w.Body.Len())
	}
	if n := fake.Count("GET", "/se/rd/serde"); n != 1 {
		t.Errorf("the upstream was asked for the index file %d times, want 1", n)
	}
}

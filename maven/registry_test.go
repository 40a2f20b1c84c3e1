package maven

import (
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"hash"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/larder-mirror/larder/maven/maventest"
	"github.com/larder-mirror/larder/registries"
	"github.com/larder-mirror/larder/registries/registriestest"
	"github.com/larder-mirror/larder/registries/registriestest/faults"
)

// mirror is a maven registry over a fake repository, on its own data
// folder, with a clock the test moves.
type mirror struct {
	t   *testing.T
	up  *registries.Upstream
	reg *Registry
	m   *registries.Mounted

	mu  sync.Mutex
	now time.Time
}

func newMirror(t *testing.T, fake *maventest.Server, env registries.Env, o Options, opts registries.Options) *mirror {
	t.Helper()
	m := &mirror{t: t, now: time.Now()}
	opts.Name = "maven"
	opts.Upstream, _ = url.Parse(fake.URL)
	opts.Verify = Kind.Verify
	opts.Now = m.clock
	if opts.ProbeInterval == 0 {
		opts.ProbeInterval = 50 * time.Millisecond
	}
	m.up = registries.NewUpstream(env, opts)
	t.Cleanup(m.up.Close)
	m.reg = New(m.up, "", o)
	m.m = registries.Mount(m.reg)
	return m
}

func (m *mirror) clock() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.now
}

func (m *mirror) advance(d time.Duration) {
	m.mu.Lock()
	m.now = m.now.Add(d)
	m.mu.Unlock()
}

func (m *mirror) get(path string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	m.m.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://larder.test"+path, nil))
	// What a client received is recorded just after (Upstream.Settle).
	m.up.Settle(context.Background())
	return rec
}

func (m *mirror) want200(path string) []byte {
	m.t.Helper()
	rec := m.get(path)
	if rec.Code != http.StatusOK {
		m.t.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body)
	}
	return rec.Body.Bytes()
}

func hexSum(h hash.Hash, b []byte) string {
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}

func TestTheChecksumsServedAreThoseOfTheBytesServed(t *testing.T) {
	fake := maventest.New()
	defer fake.Close()
	jar := []byte("PK the jar")
	paths := fake.Publish("org.example", "lib", "1.0", map[string][]byte{".jar": jar, ".pom": maventest.POM("org.example", "lib", "1.0", "")})
	fake.Publish("org.example", "lib", "2.0", map[string][]byte{".jar": []byte("PK two")})
	env := registriestest.NewEnv(t)
	m := newMirror(t, fake, env, Options{}, registries.Options{})

	got := m.want200("/" + paths[".jar"])
	if string(got) != string(jar) {
		t.Fatalf("the jar: %q, want %q", got, jar)
	}
	for algo, h := range map[string]hash.Hash{"sha1": sha1.New(), "md5": md5.New(), "sha256": sha256.New(), "sha512": sha512.New()} {
		if sum := string(m.want200("/" + paths[".jar"] + "." + algo)); sum != hexSum(h, jar) {
			t.Errorf("the jar's .%s: %q, want %q", algo, sum, hexSum(h, jar))
		}
	}
	// The row records the strongest checksum the upstream publishes.
	row, err := m.up.Store().DB.Artifact(t.Context(), "maven", paths[".jar"])
	if err != nil || !row.Cached() || !strings.HasPrefix(row.Integrity, "sha512-") {
		t.Fatalf("the jar's row: %+v, %v; want it held, checked against its .sha512", row, err)
	}
	if n := fake.Count("GET", "/"+paths[".jar"]+".md5"); n != 0 {
		t.Errorf("the upstream's .md5 was asked for %d times: larder computes what it serves", n)
	}

	// Offline, the metadata is larder's view of what it holds, and its
	// checksum that view's.
	meta := "/org/example/lib/maven-metadata.xml"
	m.want200(meta)
	offline := newMirror(t, fake, env, Options{}, registries.Options{Offline: true, MetadataTTL: time.Nanosecond})
	view := offline.want200(meta)
	if !strings.Contains(string(view), "<version>1.0</version>") || strings.Contains(string(view), "<version>2.0</version>") {
		t.Fatalf("offline metadata lists other than the held 1.0:\n%s", view)
	}
	if sum := string(offline.want200(meta + ".sha1")); sum != hexSum(sha1.New(), view) {
		t.Errorf("offline metadata's .sha1 %q is not that of the view served (%q)", sum, hexSum(sha1.New(), view))
	}
}

func TestAMissingFileCostsOneUpstreamRequestPerNegativeTTLAndIsA404(t *testing.T) {
	fake := maventest.New()
	defer fake.Close()
	fake.Publish("org.example", "lib", "1.0", map[string][]byte{".jar": []byte("PK")})
	m := newMirror(t, fake, registriestest.NewEnv(t), Options{NegativeTTL: time.Minute}, registries.Options{})
	for _, probe := range []string{"org/example/lib/1.0/lib-1.0.module", "org/example/nosuch/maven-metadata.xml"} {
		for range 3 {
			if rec := m.get("/" + probe); rec.Code != http.StatusNotFound {
				t.Fatalf("GET %s, missing upstream: %d %s, want 404", probe, rec.Code, rec.Body)
			}
		}
		if n := fake.Count("GET", "/"+probe); n != 1 {
			t.Errorf("three probes for %s within negative_ttl asked the upstream %d times, want once", probe, n)
		}
	}
	// Published meanwhile: found once negative_ttl is over.
	fake.Publish("org.example", "lib", "1.0", map[string][]byte{".module": []byte(`{"formatVersion":"1.1"}`)})
	if rec := m.get("/org/example/lib/1.0/lib-1.0.module"); rec.Code != http.StatusNotFound {
		t.Fatalf("within negative_ttl: %d, want the remembered 404", rec.Code)
	}
	m.advance(time.Minute + time.Second)
	if got := string(m.want200("/org/example/lib/1.0/lib-1.0.module")); got != `{"formatVersion":"1.1"}` {
		t.Fatalf("after negative_ttl: %q", got)
	}
	row, err := m.up.Store().DB.Artifact(t.Context(), "maven", "org/example/lib/1.0/lib-1.0.module")
	if err != nil || !strings.HasPrefix(row.Integrity, "sha512-") {
		t.Fatalf("the .module published after a 404 was not checked against its checksums: %+v, %v", row, err)
	}
}

// What another node (or an import, or a warm) stored meanwhile is served
// even while this node remembers it missing: the negative cache spares the
// upstream a round trip, it never hides what is held.
func TestAFileRememberedMissingIsServedOnceHeld(t *testing.T) {
	fake := maventest.New()
	defer fake.Close()
	fake.Publish("org.example", "lib", "1.0", map[string][]byte{".jar": []byte("PK")})
	env := registriestest.NewEnv(t)
	node1 := newMirror(t, fake, env, Options{NegativeTTL: time.Hour}, registries.Options{})
	module := "/org/example/lib/1.0/lib-1.0.module"
	snapshotMeta := "/org/example/lib/2.0-SNAPSHOT/maven-metadata.xml"
	for _, p := range []string{module, module + ".sha1", snapshotMeta} {
		if rec := node1.get(p); rec.Code != http.StatusNotFound {
			t.Fatalf("GET %s, missing upstream: %d %s, want 404", p, rec.Code, rec.Body)
		}
	}
	fake.Publish("org.example", "lib", "1.0", map[string][]byte{".module": []byte(`{"formatVersion":"1.1"}`)})
	fake.PublishFile(strings.TrimPrefix(snapshotMeta, "/"), []byte(`<metadata><groupId>org.example</groupId><artifactId>lib</artifactId><version>2.0-SNAPSHOT</version></metadata>`))
	node2 := newMirror(t, fake, env, Options{NegativeTTL: time.Hour}, registries.Options{})
	node2.want200(module)
	node2.want200(snapshotMeta)

	if got := string(node1.want200(module)); got != `{"formatVersion":"1.1"}` {
		t.Fatalf("the held .module on the node that remembers it missing: %q", got)
	}
	if sum := string(node1.want200(module + ".sha1")); sum != hexSum(sha1.New(), []byte(`{"formatVersion":"1.1"}`)) {
		t.Fatalf("its .sha1: %q", sum)
	}
	if got := string(node1.want200(snapshotMeta)); !strings.Contains(got, "2.0-SNAPSHOT") {
		t.Fatalf("the held snapshot metadata on the node that remembers it missing: %q", got)
	}
	// What is held nowhere stays remembered: no upstream round trip.
	before := fake.Count("GET", "/org/example/lib/1.0/lib-1.0-sources.jar")
	for range 2 {
		if rec := node1.get("/org/example/lib/1.0/lib-1.0-sources.jar"); rec.Code != http.StatusNotFound {
			t.Fatalf("a missing sources jar: %d", rec.Code)
		}
	}
	if n := fake.Count("GET", "/org/example/lib/1.0/lib-1.0-sources.jar") - before; n != 1 {
		t.Errorf("two probes of a missing file asked the upstream %d times, want once", n)
	}
}

func TestTheUpstreamFailingIsNeverMistakenForAMissingFile(t *testing.T) {
	fake := maventest.New()
	defer fake.Close()
	fake.Publish("org.example", "lib", "1.0", map[string][]byte{".jar": []byte("PK")})
	m := newMirror(t, fake, registriestest.NewEnv(t), Options{}, registries.Options{})
	fake.SetMode(faults.Error500)
	rec := m.get("/org/example/lib/1.0/lib-1.0.jar")
	if rec.Code != http.StatusBadGateway && !(rec.Code == http.StatusNotFound && strings.Contains(rec.Body.String(), "unreachable")) {
		t.Fatalf("GET with the upstream answering 500: %d %s, want 502, or a 404 that says it is unreachable", rec.Code, rec.Body)
	}
	fake.SetMode(faults.Normal)
	// Not remembered as missing: served as soon as the upstream is back.
	for deadline := time.Now().Add(10 * time.Second); m.up.Health().State().Status != registries.StatusUp; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the upstream is not up again")
		}
	}
	m.want200("/org/example/lib/1.0/lib-1.0.jar")
}

func TestSnapshotsTimestampedBuildsAreHeldForGoodTheirMetadataAndMovingNamesHaveATTL(t *testing.T) {
	fake := maventest.New()
	defer fake.Close()
	dir := "org/example/lib/1.0-SNAPSHOT"
	build1, build2 := []byte("PK build 1"), []byte("PK build 2")
	fake.PublishFile(dir+"/lib-1.0-20240101.120000-1.jar", build1)
	fake.PublishFile(dir+"/lib-1.0-20240101.120000-1.pom", maventest.POM("org.example", "lib", "1.0-SNAPSHOT", ""))
	fake.PublishFile(dir+"/lib-1.0-20240202.120000-2.jar", build2)
	fake.PublishFile(dir+"/lib-1.0-20240202.120000-2.pom", maventest.POM("org.example", "lib", "1.0-SNAPSHOT", ""))
	fake.PublishFile(dir+"/lib-1.0-SNAPSHOT.jar", build2)
	fake.PublishFile(dir+"/maven-metadata.xml", []byte(`<metadata modelVersion="1.1.0">
  <groupId>org.example</groupId><artifactId>lib</artifactId><version>1.0-SNAPSHOT</version>
  <versioning>
    <snapshot><timestamp>20240202.120000</timestamp><buildNumber>2</buildNumber></snapshot>
    <lastUpdated>20240202120000</lastUpdated>
    <snapshotVersions>
      <snapshotVersion><extension>jar</extension><value>1.0-20240101.120000-1</value><updated>20240101120000</updated></snapshotVersion>
      <snapshotVersion><extension>pom</extension><value>1.0-20240101.120000-1</value><updated>20240101120000</updated></snapshotVersion>
      <snapshotVersion><extension>jar</extension><value>1.0-20240202.120000-2</value><updated>20240202120000</updated></snapshotVersion>
      <snapshotVersion><extension>pom</extension><value>1.0-20240202.120000-2</value><updated>20240202120000</updated></snapshotVersion>
    </snapshotVersions>
  </versioning>
</metadata>`))
	env := registriestest.NewEnv(t)
	m := newMirror(t, fake, env, Options{}, registries.Options{})

	m.want200("/" + dir + "/maven-metadata.xml")
	for _, f := range []string{"lib-1.0-20240101.120000-1.jar", "lib-1.0-20240101.120000-1.pom"} {
		m.want200("/" + dir + "/" + f)
		m.up.Settle(t.Context())
		if row, err := m.up.Store().DB.Artifact(t.Context(), "maven", dir+"/"+f); err != nil || !row.Cached() {
			t.Fatalf("the timestamped %s is not held as an artifact: %+v, %v", f, row, err)
		}
	}
	if got := string(m.want200("/" + dir + "/lib-1.0-SNAPSHOT.jar")); got != string(build2) {
		t.Fatalf("the snapshot under its moving name: %q", got)
	}
	if sum := string(m.want200("/" + dir + "/lib-1.0-SNAPSHOT.jar.sha1")); sum != hexSum(sha1.New(), build2) {
		t.Fatalf("the moving name's .sha1: %q", sum)
	}
	// A moving name is a document: it follows the upstream once stale.
	fake.PublishFile(dir+"/lib-1.0-SNAPSHOT.jar", []byte("PK build 3"))
	m.advance(10 * time.Minute)
	if got := string(m.want200("/" + dir + "/lib-1.0-SNAPSHOT.jar")); got != "PK build 3" {
		t.Fatalf("the moving name once stale: %q, want the upstream's new build", got)
	}

	// Offline, the snapshot's metadata names the held build alone.
	offline := newMirror(t, fake, env, Options{}, registries.Options{Offline: true})
	view := string(offline.want200("/" + dir + "/maven-metadata.xml"))
	if strings.Contains(view, "20240202.120000-2") || !strings.Contains(view, "<timestamp>20240101.120000</timestamp>") ||
		!strings.Contains(view, "<buildNumber>1</buildNumber>") {
		t.Fatalf("offline snapshot metadata names other than the held build 1:\n%s", view)
	}
}

func TestPathsOutsideTheLayoutAreA404ThatSaysWhyAndNeverReachTheUpstream(t *testing.T) {
	fake := maventest.New()
	defer fake.Close()
	m := newMirror(t, fake, registriestest.NewEnv(t), Options{}, registries.Options{})
	for _, p := range []string{
		"/archetype-catalog.xml", "/org/example/../../etc/passwd", "/org/example/lib/1.0/other-1.0.jar",
		"/org/example/lib/1.0/lib-2.0.jar", "/org/example/lib/1.0/lib-1.0", "/.index/nexus-maven-repository-index.gz",
		"/org/example/lib/1.0-SNAPSHOT/lib-1.0-nightly.jar", "/maven-metadata.xml", "/org/%2e%2e/lib/1.0/lib-1.0.jar",
	} {
		rec := m.get(p)
		if rec.Code != http.StatusNotFound || !strings.HasPrefix(rec.Body.String(), "not found: ") {
			t.Errorf("GET %s: %d %q, want a 404 that says why", p, rec.Code, rec.Body)
		}
	}
	if rec := m.get("/org/example/lib/1.0/lib-1.0.jar"); rec.Code != http.StatusNotFound {
		t.Fatalf("a file the upstream does not have: %d", rec.Code)
	}
	// Other methods: a read-only mirror.
	rec := httptest.NewRecorder()
	m.m.ServeHTTP(rec, httptest.NewRequest(http.MethodPut, "http://larder.test/org/example/lib/1.0/lib-1.0.jar", strings.NewReader("x")))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Fatalf("PUT: %d, want 405", rec.Code)
	}
}

func TestRoutesReadTheRepositoryLayout(t *testing.T) {
	for _, tt := range []struct {
		path                   string
		kind                   routeKind
		pkg, version, ext, sum string
	}{
		{"/org/apache/commons/commons-lang3/3.12.0/commons-lang3-3.12.0.jar", routeArtifact, "org.apache.commons:commons-lang3", "3.12.0", "jar", ""},
		{"/org/apache/commons/commons-lang3/3.12.0/commons-lang3-3.12.0-sources.jar.sha1", routeArtifact, "org.apache.commons:commons-lang3", "3.12.0", "jar", "sha1"},
		{"/org/apache/commons/commons-lang3/3.12.0/commons-lang3-3.12.0.pom.asc", routeArtifact, "org.apache.commons:commons-lang3", "3.12.0", "pom.asc", ""},
		{"/junit/junit/4.13/junit-4.13.module", routeArtifact, "junit:junit", "4.13", "module", ""},
		{"/org/apache/commons/commons-lang3/maven-metadata.xml", routeMetadata, "org.apache.commons:commons-lang3", "", "", ""},
		{"/org/apache/maven/plugins/maven-metadata.xml.sha256", routeMetadata, "org.apache.maven:plugins", "", "", "sha256"},
		{"/org/x/lib/1.0-SNAPSHOT/lib-1.0-20240101.120000-3-tests.jar", routeArtifact, "org.x:lib", "1.0-SNAPSHOT", "jar", ""},
		{"/org/x/lib/1.0-SNAPSHOT/lib-1.0-SNAPSHOT.pom.md5", routeSnapshotFile, "org.x:lib", "1.0-SNAPSHOT", "pom", "md5"},
		{"/org/x/lib/1.0-SNAPSHOT/maven-metadata.xml", routeMetadata, "org.x:lib", "1.0-SNAPSHOT", "", ""},
	} {
		rt, err := parseRoute(tt.path)
		if err != nil {
			t.Errorf("%s: %v", tt.path, err)
			continue
		}
		if rt.kind != tt.kind || rt.pkg() != tt.pkg || rt.version != tt.version || rt.ext != tt.ext || rt.sum != tt.sum {
			t.Errorf("%s: %+v", tt.path, rt)
		}
	}
}

func TestVersionsAreOrderedAsMavenOrdersThem(t *testing.T) {
	ordered := []string{"debian", "1.0-alpha-1", "1.0-alpha-2", "1.0-beta", "1.0-rc1", "1.0-SNAPSHOT", "1.0", "1.0-sp1", "1.0.1", "1.2", "1.10", "2.0.0"}
	for i := range ordered {
		for j := range ordered {
			if got, want := compareVersions(ordered[i], ordered[j]), sign(i-j); got != want {
				t.Errorf("compareVersions(%q, %q) = %d, want %d", ordered[i], ordered[j], got, want)
			}
		}
	}
	for _, same := range [][2]string{{"1.0", "1"}, {"1.0.0", "1"}, {"1.0-ga", "1.0"}, {"1.0-final", "1.0.0"}} {
		if c := compareVersions(same[0], same[1]); c != 0 {
			t.Errorf("compareVersions(%q, %q) = %d, want 0", same[0], same[1], c)
		}
	}
}

func TestNegativeTTLIsReadFromTheConfiguration(t *testing.T) {
	for _, tt := range []struct {
		raw  any
		want time.Duration
		err  bool
	}{
		{"30s", 30 * time.Second, false},
		{"0s", -1, false},
		{"soon", 0, true},
		{"-1m", 0, true},
		{int64(30), 0, true},
	} {
		o, err := decodeKeys(registries.KindKeys{"negative_ttl": tt.raw}, &registries.Options{})
		if tt.err {
			if err == nil || !strings.Contains(err.Error(), "negative_ttl") {
				t.Errorf("negative_ttl = %v: %v, want an error naming the key", tt.raw, err)
			}
			continue
		}
		if err != nil || o.(Options).NegativeTTL != tt.want {
			t.Errorf("negative_ttl = %v: %+v, %v; want %v", tt.raw, o, err, tt.want)
		}
	}
}

func TestTheUIDescribesAnArtifactsVersionsAndFilesAndTheClientSetUp(t *testing.T) {
	fake := maventest.New()
	defer fake.Close()
	paths := fake.Publish("org.example", "lib", "1.0", map[string][]byte{".jar": []byte("PK one"), ".pom": maventest.POM("org.example", "lib", "1.0", "")})
	fake.Publish("org.example", "lib", "1.10", map[string][]byte{".jar": []byte("PK ten")})
	m := newMirror(t, fake, registriestest.NewEnv(t), Options{}, registries.Options{})
	m.want200("/org/example/lib/maven-metadata.xml")
	m.want200("/" + paths[".jar"])
	m.want200("/" + paths[".pom"])

	info, err := m.reg.Describe(t.Context(), "org.example:lib")
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Versions) != 2 || info.Versions[0].Version != "1.10" || info.Versions[1].Version != "1.0" {
		t.Fatalf("versions %+v, want 1.10 then 1.0 (newest first, as Maven orders them)", info.Versions)
	}
	held := info.Versions[1]
	if !held.Cached || len(held.Files) != 2 || held.Files[0].Name != "lib-1.0.jar" || !strings.Contains(held.Install, "<artifactId>lib</artifactId>") {
		t.Fatalf("1.0: %+v", held)
	}
	if info.Versions[0].Cached || info.MetadataFetched.IsZero() {
		t.Fatalf("1.10 is listed by the metadata, not held: %+v (metadata fetched %v)", info.Versions[0], info.MetadataFetched)
	}
	if _, err := m.reg.Describe(t.Context(), "org.example:nothing"); !errors.Is(err, registries.ErrNotFound) {
		t.Fatalf("an artifact larder knows nothing of: %v, want ErrNotFound", err)
	}

	plain := m.reg.ClientSetup("http://larder.example:7070/maven/")
	secure := m.reg.ClientSetup("https://larder.example/maven/")
	if len(plain) != 3 || !strings.Contains(plain[0].Shell, "<mirrorOf>*</mirrorOf>") || !strings.Contains(plain[0].Shell, "<url>http://larder.example:7070/maven/</url>") {
		t.Fatalf("Maven's set-up: %+v", plain)
	}
	if !strings.Contains(plain[1].Shell, "allowInsecureProtocol = true") || !strings.Contains(plain[2].Shell, "isAllowInsecureProtocol = true") {
		t.Fatalf("Gradle over plain HTTP needs allowInsecureProtocol: %+v", plain[1:])
	}
	if strings.Contains(secure[1].Shell+secure[2].Shell, "Insecure") {
		t.Fatalf("Gradle over HTTPS: %+v", secure[1:])
	}
}

// Gradle refuses a settings script whose first block is not
// pluginManagement {} ("The pluginManagement {} block must appear before
// any other statements in the script"): a snippet pasted as it is must
// evaluate.
func TestGradleSnippetsPutPluginManagementFirst(t *testing.T) {
	fake := maventest.New()
	defer fake.Close()
	m := newMirror(t, fake, registriestest.NewEnv(t), Options{}, registries.Options{})
	for _, base := range []string{"http://larder.example:7070/maven/", "https://larder.example/maven/"} {
		for _, s := range m.reg.ClientSetup(base) {
			if !strings.HasPrefix(s.Client, "Gradle") {
				continue
			}
			if !strings.HasPrefix(strings.TrimSpace(s.Shell), "pluginManagement {") || !strings.Contains(s.Shell, "dependencyResolutionManagement {") {
				t.Errorf("%s for %s does not open with pluginManagement {}:\n%s", s.Client, base, s.Shell)
			}
		}
	}
}

package e2e

import (
	"context"
	"crypto/sha1"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/larder-mirror/larder/maven/maventest"
	"github.com/larder-mirror/larder/registries/registriestest/faults"
)

// debianMavenRepo is Debian's Maven repository: real plugins and
// libraries (scripts/install-test-deps.sh installs those mvn package
// needs), served by the fake upstream as Maven Central would serve them.
const debianMavenRepo = "/usr/share/maven-repo"

// mavenConfig mounts a maven registry on the fake repository.
func mavenConfig(up *maventest.Server, extra ...string) string {
	return fmt.Sprintf(`
[[registry]]
name = "maven"
kind = "maven"
upstream = %q
response_timeout = "3s"
%s
`, up.URL, strings.Join(extra, "\n"))
}

// newMavenUpstream is the fake repository with Debian's tree, and a parent
// POM the test project inherits from, published as a team's own would be.
func newMavenUpstream(t *testing.T) *maventest.Server {
	t.Helper()
	if _, err := os.Stat(filepath.Join(debianMavenRepo, "org/apache/maven/plugins/maven-jar-plugin")); err != nil {
		t.Fatalf("Debian's Maven plugins are not installed (%v); run `make deps` (or `make test`, which installs them)", err)
	}
	up := maventest.New()
	t.Cleanup(up.Close)
	up.ServeDir(debianMavenRepo)
	up.Publish("com.example", "parent", "1.0", map[string][]byte{".pom": maventest.POM("com.example", "parent", "1.0", `
  <packaging>pom</packaging>
  <properties>
    <maven.compiler.source>17</maven.compiler.source>
    <maven.compiler.target>17</maven.compiler.target>
    <project.build.sourceEncoding>UTF-8</project.build.sourceEncoding>
  </properties>`)})
	return up
}

// lang3Jar is the dependency's jar, in the version the project's range
// resolves to.
const lang3Jar = "org/apache/commons/commons-lang3/3.12.0/commons-lang3-3.12.0.jar"

// mavenProject is a project with a parent POM from the repository and a
// dependency given as a version range, so that Maven reads its
// maven-metadata.xml; a hard one ([3.12.0]), as Debian's tree also has the
// versions "3.x" and "debian", which Maven ranks above 3.12.0. Its own
// settings point every repository at larder alone.
type mavenProject struct {
	t        *testing.T
	dir      string
	settings string
	repo     string // the local repository, fresh per build
	env      []string
}

func newMavenProject(t *testing.T, l *larder) *mavenProject {
	t.Helper()
	requireTool(t, "mvn")
	p := &mavenProject{t: t, dir: t.TempDir()}
	write := func(name, body string) {
		path := filepath.Join(p.dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("pom.xml", `<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <parent>
    <groupId>com.example</groupId>
    <artifactId>parent</artifactId>
    <version>1.0</version>
    <relativePath/>
  </parent>
  <artifactId>app</artifactId>
  <version>1.0</version>
  <dependencies>
    <dependency>
      <groupId>org.apache.commons</groupId>
      <artifactId>commons-lang3</artifactId>
      <version>[3.12.0]</version>
    </dependency>
  </dependencies>
</project>
`)
	write("src/main/java/app/App.java", `package app;

import org.apache.commons.lang3.StringUtils;

public class App {
    public static void main(String[] args) {
        System.out.println(StringUtils.capitalize("hello"));
    }
}
`)
	p.settings = filepath.Join(t.TempDir(), "settings.xml")
	if err := os.WriteFile(p.settings, []byte(`<settings>
  <mirrors>
    <mirror>
      <id>larder</id>
      <mirrorOf>*</mirrorOf>
      <url>`+l.URL+`/maven/</url>
    </mirror>
  </mirrors>
</settings>
`), 0o644); err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MAVEN_") && !strings.HasPrefix(kv, "HOME=") {
			p.env = append(p.env, kv)
		}
	}
	// A JVM that compiles less starts mvn sooner: each build is short.
	p.env = append(p.env, "HOME="+home, "MAVEN_OPTS=-XX:TieredStopAtLevel=1")
	p.freshRepo()
	return p
}

// freshRepo points the project at an empty local repository: Maven then
// fetches every plugin and dependency again.
func (p *mavenProject) freshRepo() {
	p.repo = p.t.TempDir()
	os.RemoveAll(filepath.Join(p.dir, "target"))
}

func (p *mavenProject) run(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// -C: a checksum that does not match fails the build, whatever the
	// repository's policy says.
	all := append([]string{"-B", "-C", "-s", p.settings, "-Dmaven.repo.local=" + p.repo}, args...)
	cmd := exec.CommandContext(ctx, "mvn", all...)
	cmd.Dir, cmd.Env = p.dir, p.env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// built runs mvn package and checks that it built the jar against the
// dependency's 3.12.0.
func (p *mavenProject) built(what string) string {
	p.t.Helper()
	out, err := p.run("package")
	if err != nil {
		p.t.Fatalf("%s: mvn package: %v\n%s", what, err, tail(out, 60))
	}
	if _, err := os.Stat(filepath.Join(p.dir, "target", "app-1.0.jar")); err != nil {
		p.t.Fatalf("%s: mvn package built no jar: %v\n%s", what, err, tail(out, 40))
	}
	if _, err := os.Stat(filepath.Join(p.repo, filepath.FromSlash(lang3Jar))); err != nil {
		got, _ := filepath.Glob(filepath.Join(p.repo, "org/apache/commons/commons-lang3/*/*"))
		p.t.Fatalf("%s: the range did not resolve to commons-lang3 3.12.0 (%v): %v\n%s", what, got, err, tail(out, 40))
	}
	return out
}

// heldPlugins counts the Maven plugin jars larder holds.
func heldPlugins(t *testing.T, l *larder) int {
	t.Helper()
	var n int
	if err := l.db().QueryRow(`SELECT COUNT(*) FROM artifacts WHERE registry = 'maven'
		AND path LIKE 'org/apache/maven/plugins/%' AND path LIKE '%-plugin-%.jar' AND sha256 IS NOT NULL`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestMavenPackageThroughLarderColdThenWarmWithTheUpstreamBlackHoledOrRefusedThenOffline(t *testing.T) {
	up := newMavenUpstream(t)
	// Documents are stale after a second: warm runs revalidate them.
	l := startLarder(t, mavenConfig(up, `metadata_ttl = "1s"`))
	p := newMavenProject(t, l)

	p.built("cold")
	if n := up.Count("GET", "/"+lang3Jar); n != 1 {
		t.Errorf("the upstream was asked for %s %d times, want once", lang3Jar, n)
	}
	for _, held := range []string{lang3Jar, "com/example/parent/1.0/parent-1.0.pom"} {
		if l.heldSHA256("maven", held) == "" {
			t.Fatalf("larder holds no %s", held)
		}
	}
	if n := heldPlugins(t, l); n < 4 {
		t.Fatalf("larder holds %d plugin jars; mvn package runs at least resources, compiler, surefire and jar", n)
	}
	// Maven asked for checksums, and larder's matched (-C): none came from
	// the upstream's side files, which larder reads only to verify.
	if n := up.Count("GET", "/"+lang3Jar+".md5"); n != 0 {
		t.Errorf("the upstream was asked for %s.md5 %d times: larder computes the checksums it serves", lang3Jar, n)
	}

	t.Run("warm, the upstream black-holed", func(t *testing.T) {
		time.Sleep(1100 * time.Millisecond)
		up.SetMode(faults.Hang)
		defer up.SetMode(faults.Normal)
		p.freshRepo()
		start := time.Now()
		p.built("warm, upstream black-holed")
		if took := time.Since(start); took > 60*time.Second {
			t.Errorf("a warm build with the upstream black-holed took %v", took)
		}
		if !l.logged("cache=STALE") {
			t.Errorf("no document was answered STALE")
		}
	})

	t.Run("warm, the upstream refusing connections", func(t *testing.T) {
		up.SetMode(faults.Refuse)
		defer up.SetMode(faults.Normal)
		p.freshRepo()
		p.built("warm, upstream refused")
	})

	t.Run("offline", func(t *testing.T) {
		l.restart("--offline")
		up.SetMode(faults.Refuse)
		defer up.SetMode(faults.Normal)
		p.freshRepo()
		p.built("offline")
		// The metadata lists the held versions alone: 3.12.0, and
		// "debian", which Debian's plugins depend on; not Debian's "3.x",
		// which was never fetched.
		resp, body := l.get(t, "/maven/org/apache/commons/commons-lang3/maven-metadata.xml")
		if resp.StatusCode != 200 {
			t.Fatalf("offline metadata: %s\n%s", resp.Status, body)
		}
		if s := string(body); !strings.Contains(s, "<version>3.12.0</version>") || !strings.Contains(s, "<version>debian</version>") ||
			strings.Count(s, "<version>") != 2 || !strings.Contains(s, "<release>3.12.0</release>") {
			t.Errorf("offline metadata lists other than the held 3.12.0 and debian, or another release:\n%s", body)
		}
		if got := resp.Header.Get("X-Larder-Cache"); got != "STALE" {
			t.Errorf("offline metadata: X-Larder-Cache %q, want STALE", got)
		}
	})
}

func TestMavenATamperedJarFailsThatArtifactAloneAndIsNeverStored(t *testing.T) {
	up := newMavenUpstream(t)
	up.Tamper(lang3Jar)
	l := startLarder(t, mavenConfig(up))
	p := newMavenProject(t, l)

	out, err := p.run("package")
	if err == nil {
		t.Fatalf("mvn package with a tampered commons-lang3 jar succeeded:\n%s", tail(out, 40))
	}
	if !strings.Contains(out, "commons-lang3") {
		t.Errorf("the build failed, but not on commons-lang3:\n%s", tail(out, 40))
	}
	if sum := l.storedSHA256("maven", lang3Jar); sum != "" {
		t.Errorf("larder stored the tampered %s (%s)", lang3Jar, sum)
	}
	// Everything else was fetched and kept: the plugins that ran before
	// the compiler needed the dependency.
	if l.heldSHA256("maven", "org/apache/commons/commons-lang3/3.12.0/commons-lang3-3.12.0.pom") == "" {
		t.Errorf("larder holds no POM of commons-lang3: the tampered jar failed more than itself")
	}
	if n := heldPlugins(t, l); n < 2 {
		t.Errorf("larder holds %d plugin jars: the tampered jar failed more than itself", n)
	}
	if !l.logged("integrity check failed") {
		t.Errorf("larder's log does not say it refused the tampered jar")
	}
	if files := l.blobFiles("tmp"); len(files) != 0 {
		t.Errorf("files left in blobs/tmp: %v", files)
	}
}

func TestLarderWarmMavenCoordinatesFetchesThePOMChainThenExportCarriesItAcrossAnAirGap(t *testing.T) {
	up := newMavenUpstream(t)
	// A module importing a BOM whose version its parent defines (the
	// Spring Boot shape): the parent is read for it.
	up.Publish("com.example", "platform", "2.0", map[string][]byte{".pom": maventest.POM("com.example", "platform", "2.0",
		`<packaging>pom</packaging><properties><stack.version>3.1</stack.version></properties>`)})
	up.Publish("com.example", "stack-bom", "3.1", map[string][]byte{".pom": maventest.POM("com.example", "stack-bom", "3.1", `<packaging>pom</packaging>`)})
	up.Publish("com.example", "service", "1.0", map[string][]byte{".pom": maventest.POM("com.example", "service", "1.0", `
  <parent><groupId>com.example</groupId><artifactId>platform</artifactId><version>2.0</version></parent>
  <packaging>pom</packaging>
  <dependencyManagement><dependencies>
    <dependency><groupId>com.example</groupId><artifactId>stack-bom</artifactId><version>${stack.version}</version><type>pom</type><scope>import</scope></dependency>
  </dependencies></dependencyManagement>`)})
	l := startLarder(t, mavenConfig(up))
	list := filepath.Join(t.TempDir(), "maven-dependencies.list")
	// As mvn dependency:list -DoutputFile writes it.
	if err := os.WriteFile(list, []byte("\nThe following files have been resolved:\n   org.apache.commons:commons-lang3:jar:3.12.0:compile\n   com.example:service:pom:1.0:compile\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := runLarder(t, "warm", "--config", l.config, "--url", l.URL, list)
	if err != nil {
		t.Fatalf("larder warm: %v\n%s", err, out)
	}
	// The jar and its POM, and the parents Maven reads to resolve it.
	chain := []string{lang3Jar, "org/apache/commons/commons-lang3/3.12.0/commons-lang3-3.12.0.pom",
		"org/apache/commons/commons-parent/debian/commons-parent-debian.pom",
		"com/example/service/1.0/service-1.0.pom", "com/example/platform/2.0/platform-2.0.pom", "com/example/stack-bom/3.1/stack-bom-3.1.pom"}
	for _, held := range chain {
		if l.heldSHA256("maven", held) == "" {
			t.Fatalf("after larder warm, larder holds no %s\n%s", held, out)
		}
	}
	// The UI lists the artifact by group and artifact, with the held version.
	for _, page := range []string{"/api/v1/registries/maven/packages/org.apache.commons:commons-lang3", "/r/maven/p/org.apache.commons:commons-lang3"} {
		if resp, body := l.get(t, page); resp.StatusCode != 200 || !strings.Contains(string(body), "3.12.0") || !strings.Contains(string(body), "commons-lang3-3.12.0.jar") {
			t.Errorf("GET %s: %s, without the held 3.12.0 and its jar:\n%.500s", page, resp.Status, body)
		}
	}
	if resp, body := l.get(t, "/setup"); resp.StatusCode != 200 || !strings.Contains(string(body), "mirrorOf") {
		t.Errorf("GET /setup: %s, without Maven's settings.xml:\n%.300s", resp.Status, body)
	}
	l.stop()

	archive := filepath.Join(t.TempDir(), "maven.tar")
	if out, err := runLarder(t, "export", "--data", l.dir, "--out", archive, "--lockfile", list); err != nil {
		t.Fatalf("export: %v\n%s", err, out)
	}
	gapped := filepath.Join(t.TempDir(), "air-gapped")
	// The archive's own checksum files vouch for its files.
	if out, err := runLarder(t, "import", "--config", l.config, "--data", gapped, archive); err != nil || strings.Contains(out, "refused") ||
		strings.Contains(out, "conflict") || strings.Contains(out, "no document") {
		t.Fatalf("import: %v\n%s", err, out)
	}
	l.dir = gapped
	l.extra = []string{"--offline"}
	l.start()
	for _, held := range chain {
		if resp, body := l.get(t, "/maven/"+held); resp.StatusCode != 200 {
			t.Fatalf("air-gapped, GET %s: %s\n%s", held, resp.Status, body)
		}
	}
	jar, _, _ := up.Body(lang3Jar)
	if _, sum := l.get(t, "/maven/"+lang3Jar+".sha1"); string(sum) != fmt.Sprintf("%x", sha1.Sum(jar)) {
		t.Errorf("air-gapped, the jar's .sha1 is %q, not that of its bytes", sum)
	}
}

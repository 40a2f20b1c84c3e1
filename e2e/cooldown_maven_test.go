package e2e

import (
	"net/http"
	"strings"
	"testing"
)

// Maven dates a version by when larder first lists it in its artifact's
// maven-metadata.xml (the metadata has no time per version): on a fresh
// larder under a 3-day policy, the project's parent POM, first seen now,
// is refused and mvn says so, with nothing fetched for it, while what the
// exemptions name (Debian's tree: groups under org.*, and every
// artifact's versions "debian" and "N.x") is served; exempting the
// parent's version builds the project.
func TestMavenUnderMinReleaseAgeRefusesAVersionFirstSeenNowAndBuildsWithItExempt(t *testing.T) {
	up := newMavenUpstream(t)
	const parentPOM = "com/example/parent/1.0/parent-1.0.pom"
	l := startLarder(t, mavenConfig(up, `min_release_age = "3d"`, `min_release_age_exempt = ["org.*:*", "*:*@debian", "*:*@*.x"]`))
	p := newMavenProject(t, l)
	out, err := p.run("package")
	if err == nil || !strings.Contains(out, "403") || !strings.Contains(out, "parent") {
		t.Fatalf("mvn package with a parent POM first seen now, under a 3-day policy: %v\n%s", err, tail(out, 40))
	}
	if n := up.Count("GET", "/"+parentPOM); n != 0 {
		t.Fatalf("the upstream was asked for the held-back parent POM %d times", n)
	}
	resp, body := l.get(t, "/maven/"+parentPOM)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "com.example:parent@1.0") || !strings.Contains(string(body), "min_release_age 3d") {
		t.Fatalf("GET %s: %d %q, want 403 that says it is held back", parentPOM, resp.StatusCode, body)
	}
	if _, body := l.get(t, "/maven/com/example/parent/maven-metadata.xml"); strings.Contains(string(body), "<version>1.0</version>") {
		t.Fatalf("the parent's metadata lists 1.0, first seen now:\n%s", body)
	}

	exempt := startLarder(t, mavenConfig(up, `min_release_age = "3d"`, `min_release_age_exempt = ["org.*:*", "*:*@debian", "*:*@*.x", "com.example:parent@1.0"]`))
	p = newMavenProject(t, exempt)
	p.built("with the parent's version exempt")
}

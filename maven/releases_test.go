package maven

import (
	"encoding/xml"
	"strings"
	"testing"
	"time"

	"github.com/larder-mirror/larder/maven/maventest"
	"github.com/larder-mirror/larder/registries"
	"github.com/larder-mirror/larder/registries/registriestest"
)

// Under a cutoff an artifact's metadata lists only versions larder first
// saw long enough ago, latest and release recomputed among them; the files
// of a younger version, a snapshot's metadata and moving files, and a
// held jar's checksum are refused with nothing fetched; a version the
// metadata never listed has no date and counts as new.
func TestMetadataUnderACutoff(t *testing.T) {
	fake := maventest.New()
	defer fake.Close()
	const g, a = "org.example", "lib"
	pub := func(v string) map[string]string {
		return fake.Publish(g, a, v, map[string][]byte{".jar": []byte("jar " + v), ".pom": maventest.POM(g, a, v, "")})
	}
	pub("1.0")
	m := newMirror(t, fake, registriestest.NewEnv(t), Options{}, registries.Options{MinReleaseAge: 72 * time.Hour, MetadataTTL: time.Minute})
	meta := "/org/example/lib/maven-metadata.xml"
	if r := m.get(meta); r.Code != 200 {
		t.Fatalf("GET %s: %d %s", meta, r.Code, r.Body)
	}
	m.advance(96 * time.Hour)
	pub("2.0-SNAPSHOT")
	young := pub("1.1")
	m.advance(time.Hour)

	r := m.get(meta)
	var md metadata
	if err := xml.Unmarshal(r.Body.Bytes(), &md); err != nil || md.Versioning == nil || md.Versioning.Versions == nil {
		t.Fatalf("GET %s: %d %v\n%s", meta, r.Code, err, r.Body)
	}
	vs := md.Versioning
	if got := strings.Join(vs.Versions.Version, ","); got != "1.0" || vs.Latest != "1.0" || vs.Release != "1.0" {
		t.Fatalf("under a 3-day cutoff: versions %s, latest %q, release %q; want 1.0 alone, latest and release", got, vs.Latest, vs.Release)
	}
	for _, p := range []string{young[".jar"], young[".pom"], young[".jar"] + ".sha1",
		"org/example/lib/2.0-SNAPSHOT/maven-metadata.xml", "org/example/lib/2.0-SNAPSHOT/lib-2.0-SNAPSHOT.jar"} {
		if r := m.get("/" + p); r.Code != 403 || !strings.Contains(r.Body.String(), "held back") {
			t.Fatalf("GET /%s, first seen an hour ago: %d %s, want 403 that says it is held back", p, r.Code, r.Body)
		}
		if n := fake.Count("GET", "/"+p); n != 0 {
			t.Fatalf("the upstream was asked %d times for %s, refused", n, p)
		}
	}
	// Never listed: no date, so new.
	fake.PublishFile("org/example/lib/0.9/lib-0.9.jar", []byte("unlisted"))
	if r := m.get("/org/example/lib/0.9/lib-0.9.jar"); r.Code != 403 || !strings.Contains(r.Body.String(), "counts as new") {
		t.Fatalf("GET a version the metadata does not list: %d %s, want 403", r.Code, r.Body)
	}

	// An artifact with no metadata at all: its files are new, not missing.
	fake.PublishFile("org/example/solo/1.0/solo-1.0.jar", []byte("solo"))
	if r := m.get("/org/example/solo/1.0/solo-1.0.jar"); r.Code != 403 || !strings.Contains(r.Body.String(), "counts as new") {
		t.Fatalf("GET the jar of an artifact without metadata: %d %s, want 403", r.Code, r.Body)
	}

	m.advance(72 * time.Hour)
	r = m.get(meta)
	md = metadata{}
	if err := xml.Unmarshal(r.Body.Bytes(), &md); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(md.Versioning.Versions.Version, ","); got != "1.0,2.0-SNAPSHOT,1.1" || md.Versioning.Release != "1.1" {
		t.Fatalf("three days on: versions %s, release %q", got, md.Versioning.Release)
	}
	if r := m.get("/" + young[".jar"]); r.Code != 200 || r.Body.String() != "jar 1.1" {
		t.Fatalf("GET 1.1's jar three days on: %d %s", r.Code, r.Body)
	}
}

// The offline view of a snapshot names its newest held build: by
// timestamp, then build number as a number (build 10 is newer than build
// 9), and from any held file when no POM of a build is held.
func TestTheOfflineSnapshotViewNamesTheNewestHeldBuild(t *testing.T) {
	rt, err := parseRoute("org/example/lib/1.0-SNAPSHOT/maven-metadata.xml")
	if err != nil {
		t.Fatal(err)
	}
	entries := func(exts ...string) *metadata {
		m := &metadata{Versioning: &versioning{SnapshotVersions: &snapshotVersions{}}}
		for _, v := range []string{"1.0-20240101.120000-9", "1.0-20240101.120000-10", "1.0-20231231.235959-11"} {
			for _, ext := range exts {
				m.Versioning.SnapshotVersions.SnapshotVersion = append(m.Versioning.SnapshotVersions.SnapshotVersion, snapshotVersion{Extension: ext, Value: v})
			}
		}
		return m
	}
	heldAll := func(exts ...string) map[string]bool {
		held := map[string]bool{}
		for _, b := range []string{"20240101.120000-9", "20240101.120000-10", "20231231.235959-11"} {
			for _, ext := range exts {
				held[rt.dir+"/lib-1.0-"+b+"."+ext] = true
			}
		}
		return held
	}
	for _, c := range []struct {
		name string
		exts []string
	}{
		{"with POMs held", []string{"pom", "jar"}},
		{"with no POM held", []string{"jar"}},
	} {
		m := entries(c.exts...)
		if !heldSnapshots(m, rt, heldAll(c.exts...)) {
			t.Fatalf("%s: nothing held", c.name)
		}
		if s := m.Versioning.Snapshot; s == nil || s.Timestamp != "20240101.120000" || s.BuildNumber != "10" {
			t.Errorf("%s: the snapshot is %+v, want build 10 of 20240101.120000", c.name, s)
		}
	}
}

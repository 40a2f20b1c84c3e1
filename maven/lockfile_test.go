package maven

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/larder-mirror/larder/registries"
)

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func labels(pins []registries.Pin) []string {
	var out []string
	for _, p := range pins {
		out = append(out, p.Label)
	}
	return out
}

func TestAGradleLockfilePinsEachModuleAndSkipsWhatItCannot(t *testing.T) {
	p := writeFile(t, "gradle.lockfile", `# This is a Gradle generated file for dependency locking.
# Manual edits can break the build and are not advised.
# This file is expected to be part of source control.
com.google.guava:guava:32.1.3-jre=compileClasspath,runtimeClasspath
org.slf4j:slf4j-api:2.0.9=runtimeClasspath
com.example:moving:1.0-SNAPSHOT=runtimeClasspath
not a line
empty=annotationProcessor
`)
	if m := (gradleLockfile{}).Match(p, nil); m != registries.ByName {
		t.Fatalf("gradle.lockfile by name: %v", m)
	}
	if m := (gradleLockfile{}).Match("locks.txt", []byte("# This is a Gradle generated file for dependency locking.\n")); m != registries.ByContent {
		t.Fatalf("a gradle lockfile by content: %v", m)
	}
	pins, skipped, err := gradleLockfile{}.Read(p)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := labels(pins), []string{"com.google.guava:guava:32.1.3-jre", "org.slf4j:slf4j-api:2.0.9"}; !slices.Equal(got, want) {
		t.Fatalf("pins %v, want %v", got, want)
	}
	if len(skipped) != 2 || !strings.Contains(skipped[0].Error(), "snapshot") || !strings.Contains(skipped[1].Error(), "line 7") {
		t.Fatalf("skipped: %v; want the snapshot and line 7", skipped)
	}
	rel := pins[0].Release
	if rel.Package != "com.google.guava:guava" || rel.Document != "com/google/guava/guava/32.1.3-jre/guava-32.1.3-jre.pom" {
		t.Fatalf("release: %+v", rel)
	}
	files, _ := rel.Files([]byte(`<project><packaging>bundle</packaging></project>`))
	if got := []string{files[0].Path, files[1].Path}; got[1] != "com/google/guava/guava/32.1.3-jre/guava-32.1.3-jre.jar" {
		t.Fatalf("files of a bundle: %v, want its POM and jar", got)
	}
	if files, _ := rel.Files([]byte(`<project><packaging>pom</packaging></project>`)); len(files) != 1 {
		t.Fatalf("files of a POM-only release: %v, want its POM alone", files)
	}
}

func TestAListOfCoordinatesAsMvnDependencyListWritesIt(t *testing.T) {
	p := writeFile(t, "maven-dependencies.list", `
The following files have been resolved:
   org.apache.commons:commons-lang3:jar:3.12.0:compile -- module org.apache.commons.lang3
   org.junit.jupiter:junit-jupiter-api:jar:5.10.0:test
   io.netty:netty-transport-native-epoll:jar:linux-x86_64:4.1.100.Final:runtime
   com.example:bom:pom:1.0:import
   none
`)
	if m := (coordinateList{}).Match(p, nil); m != registries.ByName {
		t.Fatalf("by name: %v", m)
	}
	if m := (coordinateList{}).Match("deps", []byte("org.x:y:1.0\n")); m != registries.ByContent {
		t.Fatalf("g:a:v by content: %v", m)
	}
	pins, skipped, err := coordinateList{}.Read(p)
	if err != nil || len(skipped) != 0 {
		t.Fatalf("%v, %v", skipped, err)
	}
	want := []string{"org.apache.commons:commons-lang3:3.12.0", "org.junit.jupiter:junit-jupiter-api:5.10.0", "io.netty:netty-transport-native-epoll:4.1.100.Final", "com.example:bom:1.0"}
	if got := labels(pins); !slices.Equal(got, want) {
		t.Fatalf("pins %v, want %v", got, want)
	}
	files, _ := pins[2].Release.Files(nil)
	if files[1].Path != "io/netty/netty-transport-native-epoll/4.1.100.Final/netty-transport-native-epoll-4.1.100.Final-linux-x86_64.jar" {
		t.Fatalf("a classified jar: %v", files)
	}
	if files, _ := pins[3].Release.Files(nil); len(files) != 1 {
		t.Fatalf("a pom-typed coordinate: %v, want its POM alone", files)
	}
}

// neededPOMs walks what warming pin fetches, as larder warm does (each
// release once, by label), over the POMs of poms by path; it returns the
// coordinates of the POMs read.
func neededPOMs(t *testing.T, pin registries.Pin, poms map[string]string) []string {
	t.Helper()
	var got []string
	seen := map[string]bool{pin.Label: true}
	var walk func(rel *registries.Release)
	walk = func(rel *registries.Release) {
		body, ok := poms[rel.Document]
		if !ok {
			t.Fatalf("%s is not among the test's POMs", rel.Document)
		}
		needs, err := rel.Needs([]byte(body))
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range needs {
			if seen[n.Label] {
				continue
			}
			seen[n.Label] = true
			if !strings.HasPrefix(n.Label, "imports of ") {
				got = append(got, n.Label)
			}
			if _, ok := poms[n.Release.Document]; ok {
				walk(n.Release)
			}
		}
	}
	walk(pin.Release)
	return got
}

func TestAPOMNeedsItsParentAndTheBOMsItImports(t *testing.T) {
	app := coordinate{group: "com.example", artifact: "app", version: "1.0"}
	poms := map[string]string{
		app.pomPath(): `<project>
  <parent><groupId>org.springframework.boot</groupId><artifactId>spring-boot-starter-parent</artifactId><version>3.2.0</version></parent>
  <groupId>com.example</groupId><artifactId>app</artifactId><version>1.0</version>
  <properties><netty.version>4.1.100.Final</netty.version><bom.version>${netty.version}</bom.version><jackson.version>2.16.0</jackson.version></properties>
  <dependencyManagement><dependencies>
    <dependency><groupId>io.netty</groupId><artifactId>netty-bom</artifactId><version>${bom.version}</version><type>pom</type><scope>import</scope></dependency>
    <dependency><groupId>com.example</groupId><artifactId>own-bom</artifactId><version>${project.version}</version><type>pom</type><scope>import</scope></dependency>
    <dependency><groupId>org.x</groupId><artifactId>elsewhere</artifactId><version>${defined.by.a.parent}</version><type>pom</type><scope>import</scope></dependency>
    <dependency><groupId>org.x</groupId><artifactId>further-up</artifactId><version>${defined.by.the.grandparent}</version><type>pom</type><scope>import</scope></dependency>
    <dependency><groupId>org.x</groupId><artifactId>nowhere</artifactId><version>${defined.nowhere}</version><type>pom</type><scope>import</scope></dependency>
    <dependency><groupId>org.x</groupId><artifactId>managed</artifactId><version>1.0</version></dependency>
  </dependencies></dependencyManagement>
</project>`,
		// The parent's property names one the child overrides: the
		// child's value wins, as in Maven's effective model.
		"org/springframework/boot/spring-boot-starter-parent/3.2.0/spring-boot-starter-parent-3.2.0.pom": `<project>
  <parent><groupId>org.springframework.boot</groupId><artifactId>spring-boot-dependencies</artifactId><version>3.2.0</version></parent>
  <artifactId>spring-boot-starter-parent</artifactId><packaging>pom</packaging>
  <properties><defined.by.a.parent>${jackson.version}</defined.by.a.parent><jackson.version>2.15.3</jackson.version></properties>
</project>`,
		"org/springframework/boot/spring-boot-dependencies/3.2.0/spring-boot-dependencies-3.2.0.pom": `<project>
  <groupId>org.springframework.boot</groupId><artifactId>spring-boot-dependencies</artifactId><version>3.2.0</version><packaging>pom</packaging>
  <properties><defined.by.the.grandparent>7.0</defined.by.the.grandparent></properties>
</project>`,
	}
	got := neededPOMs(t, app.pin(), poms)
	want := []string{
		"org.springframework.boot:spring-boot-starter-parent:3.2.0", "io.netty:netty-bom:4.1.100.Final", "com.example:own-bom:1.0",
		"org.springframework.boot:spring-boot-dependencies:3.2.0", "org.x:elsewhere:2.16.0", "org.x:further-up:7.0",
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("needs %v, want %v", got, want)
	}
	if _, _, err := pomNeeds([]byte("not xml <")); err == nil {
		t.Fatal("a POM that is not XML: no error")
	}
}

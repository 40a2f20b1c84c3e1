package maven

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/larder-mirror/larder/maven/maventest"
	"github.com/larder-mirror/larder/registries"
	"github.com/larder-mirror/larder/registries/registriestest"
)

// A snapshot's moving file is never stored unchecked while the upstream
// publishes a checksum beside it: not even while the upstream is suspect,
// when its copy is revalidated behind the client's back.
func TestAMovingSnapshotFileIsCheckedEvenWhileTheUpstreamIsSuspect(t *testing.T) {
	fake := maventest.New()
	defer fake.Close()
	dir := "org/example/lib/1.0-SNAPSHOT"
	moving := dir + "/lib-1.0-SNAPSHOT.jar"
	build2 := []byte("PK build 2")
	fake.PublishFile(moving, build2)
	// Every probe fails, and rarely: the upstream stays suspect until a
	// request of larder's own finds it answering.
	fake.Answer("", http.StatusInternalServerError, nil)
	m := newMirror(t, fake, registriestest.NewEnv(t), Options{},
		registries.Options{MetadataTTL: time.Minute, ProbeInterval: time.Hour, FailuresToDown: 50})
	if got := string(m.want200("/" + moving)); got != string(build2) {
		t.Fatalf("the moving file: %q", got)
	}

	// The upstream now serves other bytes than its checksums sum.
	fake.PublishFile(moving, []byte("PK build 3"))
	fake.Tamper(moving)
	m.advance(2 * time.Minute)
	m.up.Health().Failure(errors.New("connection reset by peer"))
	if st := m.up.Health().State().Status; st != registries.StatusSuspect {
		t.Fatalf("after one failure the upstream is %s, want suspect", st)
	}
	if got := string(m.want200("/" + moving)); got != string(build2) {
		t.Fatalf("suspect: %q, want the held copy at once", got)
	}
	// The revalidation behind the client's back answers, and brings the
	// upstream up.
	for deadline := time.Now().Add(10 * time.Second); !m.up.Health().Up(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the background revalidation did not reach the upstream")
		}
	}
	// This joins that revalidation if it still runs, or reads what it kept.
	for range 2 {
		if got := string(m.want200("/" + moving)); got != string(build2) {
			t.Fatalf("the moving file after a revalidation while suspect: %q, want the checked build 2 (the new bytes fail their checksum)", got)
		}
	}

	// Once the upstream serves what its checksums sum, it is taken.
	fake.PublishFile(moving, []byte("PK build 4"))
	fake.Untamper(moving)
	m.advance(2 * time.Minute)
	if got := string(m.want200("/" + moving)); got != "PK build 4" {
		t.Fatalf("the moving file once its bytes match their checksum: %q", got)
	}
}

// What cannot be asked is not "none published": a moving file kept while
// its upstream published no checksum beside it (pinned at first sight)
// does not take new bytes while its checksum files fail; the held copy is
// served.
func TestAMovingSnapshotFileWhoseChecksumCannotBeReadKeepsItsHeldCopy(t *testing.T) {
	fake := maventest.New()
	defer fake.Close()
	moving := "org/example/lib/1.0-SNAPSHOT/lib-1.0-SNAPSHOT.jar"
	fake.PublishFile(moving, []byte("PK build 2"))
	for _, algo := range verifiedAlgorithms {
		fake.Answer(moving+"."+algo, http.StatusNotFound, nil)
	}
	m := newMirror(t, fake, registriestest.NewEnv(t), Options{},
		registries.Options{MetadataTTL: time.Minute, FailuresToDown: 50})
	if got := string(m.want200("/" + moving)); got != "PK build 2" {
		t.Fatalf("a moving file with no checksum beside it: %q", got)
	}
	fake.PublishFile(moving, []byte("PK build 3"))
	for _, algo := range verifiedAlgorithms {
		fake.Answer(moving+"."+algo, http.StatusBadGateway, nil)
	}
	m.advance(2 * time.Minute)
	if got := string(m.want200("/" + moving)); got != "PK build 2" {
		t.Fatalf("with its checksum files failing: %q, want the held build 2", got)
	}
	doc, err := m.up.Cached(t.Context(), "org.example:lib", variantSnapshotFile+moving)
	if err != nil {
		t.Fatal(err)
	}
	if body, _ := m.up.Body(t.Context(), doc); string(body) != "PK build 2" {
		t.Fatalf("kept: %q, want build 2", body)
	}
}

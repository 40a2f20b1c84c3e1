package pypi

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/larder-mirror/larder/pypi/pypitest"
	"github.com/larder-mirror/larder/registries"
)

func hexSHA256(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }
func hexMD5(b []byte) string    { s := md5.Sum(b); return hex.EncodeToString(s[:]) }

// revalidatingMirror asks the upstream again on every request for a page.
func revalidatingMirror(t *testing.T, up *pypitest.Server) *testMirror {
	t.Helper()
	return mirrorOf(t, up, registries.Options{MetadataTTL: time.Nanosecond, StaleWait: 30 * time.Second})
}

func (m *testMirror) mustGet(t *testing.T, path string, header ...string) string {
	t.Helper()
	r := m.get(t, path, header...)
	if r.status != http.StatusOK {
		t.Fatalf("GET %s: %d\n%s", path, r.status, r.body)
	}
	return r.body
}

func (m *testMirror) conflictCount(t *testing.T, project string) int {
	t.Helper()
	cs, err := m.up.Store().DB.PinConflicts(context.Background(), "pypi", project)
	if err != nil {
		t.Fatal(err)
	}
	return len(cs)
}

// A file whose link carried no sha256 is pinned to the bytes larder first
// stored: when the index later declares other bytes, both page formats name
// the pinned sha256, so pip checks what larder serves.
func TestAFileFirstSeenWithoutAHashKeepsItsPin(t *testing.T) {
	t.Parallel()
	up := pypitest.New()
	t.Cleanup(up.Close)
	name, original := pypitest.Sdist("beta", "1.0.0", nil)
	up.AddFile("beta", name, original, pypitest.FileOpts{OmitHashes: true})
	m := revalidatingMirror(t, up)

	if page := m.mustGet(t, "/pypi/simple/beta/", "Accept", mediaHTML); strings.Contains(page, "sha256") {
		t.Fatalf("before anything is held the page names a hash the index did not give:\n%s", page)
	}
	if got := m.mustGet(t, "/pypi/files/beta/"+name); got != string(original) {
		t.Fatal("the first download served other bytes")
	}
	m.waitHeld(t, "beta", filePath("beta", name))

	other := append(bytes.Clone(original), 0)
	up.AddFile("beta", name, other, pypitest.FileOpts{})
	for _, accept := range []string{mediaHTML, mediaJSON} {
		page := m.mustGet(t, "/pypi/simple/beta/", "Accept", accept)
		if !strings.Contains(page, hexSHA256(original)) || strings.Contains(page, hexSHA256(other)) {
			t.Errorf("%s: the page does not name the pinned sha256 %s alone:\n%s", accept, hexSHA256(original), page)
		}
	}
	if page := m.mustGet(t, "/pypi/simple/beta/", "Accept", mediaJSON); !strings.Contains(page, fmt.Sprintf(`"size":%d,`, len(original))) {
		t.Errorf("the JSON page does not give the size of the held bytes, %d:\n%s", len(original), page)
	}
	if m.conflictCount(t, "beta") == 0 {
		t.Error("the conflict was not recorded")
	}
	if got := m.mustGet(t, "/pypi/files/beta/"+name); got != string(original) {
		t.Error("the pinned file was replaced")
	}
}

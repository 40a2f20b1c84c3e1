package pypi

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/larder-mirror/larder/registries"
)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// htmlIndex is a PEP 503 index that dates nothing (no PEP 700): one sdist
// of "plain", on the index's own host.
func htmlIndex(t *testing.T) (*httptest.Server, string) {
	sdist := []byte("not really a tarball")
	sum := sha256.Sum256(sdist)
	name := "plain-1.0.tar.gz"
	mux := http.NewServeMux()
	mux.HandleFunc("/simple/plain/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte(`<!DOCTYPE html><html><body><a href="/dl/` + name + `#sha256=` + hex.EncodeToString(sum[:]) + `">` + name + `</a></body></html>`))
	})
	mux.HandleFunc("/dl/"+name, func(w http.ResponseWriter, r *http.Request) { w.Write(sdist) })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, name
}

func TestAFileNoPageDatesIsDatedByWhenLarderFirstSawIt(t *testing.T) {
	srv, name := htmlIndex(t)
	c := &clock{now: time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)}
	m := newMirror(t, newTestEnv(t), srv.URL+"/simple/", nil, registries.Options{MinReleaseAge: 72 * time.Hour, Now: c.Now})

	page := m.get(t, "/pypi/simple/plain/")
	if page.status != http.StatusOK || len(filenames(t, page)) != 0 {
		t.Errorf("first sight of an undated file under a 3-day policy: %d %v, want it left out", page.status, filenames(t, page))
	}
	if r := m.get(t, "/pypi/files/plain/"+name); r.status != http.StatusForbidden || !strings.Contains(r.body, "2026-03-13T00:00:00Z") {
		t.Errorf("its download: %d %s, want 403 until three days after first sight", r.status, r.body)
	}
	c.Add(72*time.Hour + time.Second)
	if got := filenames(t, m.get(t, "/pypi/simple/plain/")); !sameStrings(got, []string{name}) {
		t.Errorf("three days after first sight: %v", got)
	}
	if r := m.get(t, "/pypi/files/plain/"+name); r.status != http.StatusOK {
		t.Errorf("its download three days on: %d %s", r.status, r.body)
	}
}

func TestAFileIsDatedByItsOwnUploadTime(t *testing.T) {
	jan := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rels := fileReleases("pkg", []File{
		{Filename: "pkg-1.0.tar.gz", UploadTime: jan.Format("2006-01-02T15:04:05.000000Z")},
		{Filename: "pkg-1.0-cp312-cp312-manylinux_2_17_x86_64.whl"},
	})
	if len(rels) != 2 || !rels[0].Published.Equal(jan) || rels[0].Version != "1.0" || !rels[1].Published.IsZero() || rels[1].Version != "1.0" {
		t.Errorf("fileReleases = %+v", rels)
	}
	if releaseOf("pkg-1.0-py3-none-any.whl.metadata") != "pkg-1.0-py3-none-any.whl" {
		t.Error("a metadata file is not dated as its distribution")
	}
}

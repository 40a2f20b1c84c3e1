package npm

import (
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/larder-mirror/larder/npm/npmtest"
	"github.com/larder-mirror/larder/storage/storagetest"
)

// Once larder holds a package's full packument, the abbreviated one is
// derived from it: one document per package from the upstream, not two.
func TestTheAbbreviatedPackumentIsDerivedFromAHeldFullOne(t *testing.T) {
	t.Parallel()
	up := npmtest.New()
	defer up.Close()
	up.Publish("leaf", "1.0.0", nil)
	m := newPinMirror(t, up)
	m.get(t, "/npm/leaf", "application/json") // npm view, say
	for range 3 {
		body := m.get(t, "/npm/leaf", mediaAbbreviated) // npm install
		if strings.Contains(string(body), `"maintainers"`) || !strings.Contains(string(body), `"1.0.0"`) {
			t.Fatalf("not the abbreviated form: %s", body)
		}
	}
	for _, r := range up.Requests() {
		if strings.Contains(r.Header.Get("Accept"), mediaAbbreviated) {
			t.Errorf("the upstream was asked for the abbreviated packument (%s %s) while larder held the full one", r.Method, r.Path)
		}
	}
	if n := up.Count("GET", "/leaf"); n < 1 {
		t.Errorf("the full packument was fetched %d times", n)
	}
}

// An abbreviated packument asked for while the full one, just answered, is
// still committing is derived from it all the same: the full one is held
// from the moment it was answered (registries.Upstream.DocumentToAnswer).
func TestAnAbbreviatedPackumentAskedWhileTheFullOneCommitsIsDerivedFromIt(t *testing.T) {
	t.Parallel()
	up := npmtest.New()
	defer up.Close()
	up.Publish("leaf", "1.0.0", nil)
	dir := t.TempDir()
	m := newPinMirrorIn(t, up.URL, dir)
	release := storagetest.HoldWrites(t, filepath.Join(dir, "larder.db"))
	m.get(t, "/npm/leaf", "application/json") // answered; its commit waits for the lock

	type answer struct {
		body []byte
		err  error
	}
	abbreviated := make(chan answer, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, m.srv.URL+"/npm/leaf", nil)
		req.Header.Set("Accept", mediaAbbreviated)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			abbreviated <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("status %d: %s", resp.StatusCode, body)
		}
		abbreviated <- answer{body, err}
	}()
	// Long enough for the request to reach the upstream, were it to go.
	time.Sleep(200 * time.Millisecond)
	release()
	select {
	case a := <-abbreviated:
		if a.err != nil {
			t.Fatal(a.err)
		}
		if strings.Contains(string(a.body), `"maintainers"`) || !strings.Contains(string(a.body), `"1.0.0"`) {
			t.Fatalf("not the abbreviated form: %s", a.body)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no answer 20 s after the full packument committed")
	}
	for _, r := range up.Requests() {
		if strings.Contains(r.Header.Get("Accept"), mediaAbbreviated) {
			t.Errorf("the upstream was asked for the abbreviated packument (%s %s) while the full one committed", r.Method, r.Path)
		}
	}
}

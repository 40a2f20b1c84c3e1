package pypi

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/larder-mirror/larder/pypi/pypitest"
	"github.com/larder-mirror/larder/registries"
)

func TestAKeptMetadataFileLoadsThePagesOfItsDependencies(t *testing.T) {
	up := pypitest.New()
	t.Cleanup(up.Close)
	wheel := up.AddWheel("app", "1.0", []string{
		"Dep_One>=1", "dep-two (>=2)", "with-extra[fast]", "win-only; sys_platform == \"win32\"",
		"only-for-extra; extra == \"speed\"", "held-already", "dep.one", "missing-upstream",
	}, "")
	for _, name := range []string{"dep-one", "dep-two", "with-extra", "win-only", "only-for-extra", "held-already"} {
		up.AddWheel(name, "1.0", nil, "")
	}
	m := mirrorOf(t, up, registries.Options{})
	m.get(t, "/pypi/simple/held-already/")
	m.get(t, "/pypi/simple/app/")
	up.Reset()

	if r := m.get(t, "/pypi/files/app/"+wheel+".metadata"); r.status != http.StatusOK {
		t.Fatalf("GET the metadata file: %d\n%s", r.status, r.body)
	}
	wantLoaded := []string{"dep-one", "dep-two", "with-extra", "win-only"}
	deadline := time.Now().Add(5 * time.Second)
	for _, name := range wantLoaded {
		for {
			if _, err := m.up.Cached(context.Background(), name, variantPage); err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the page of %s was not loaded after the metadata file naming it was kept", name)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	// The loads of one file end together: once missing-upstream's has been
	// asked, every one has.
	for up.Count("index", http.MethodGet, "/simple/missing-upstream/") == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	m.up.Close() // waits for what follows a kept artifact
	for _, name := range append(wantLoaded, "missing-upstream") {
		if n := up.Count("index", http.MethodGet, "/simple/"+name+"/"); n != 1 {
			t.Errorf("the page of %s was asked of the upstream %d times, want 1", name, n)
		}
	}
	for _, name := range []string{"only-for-extra", "held-already", "app"} {
		if n := up.Count("index", http.MethodGet, "/simple/"+name+"/"); n != 0 {
			t.Errorf("the page of %s was asked of the upstream %d times, want none", name, n)
		}
	}
	for _, r := range up.Requests() {
		if r.Host == "files" && !strings.HasSuffix(r.Path, "/"+wheel+".metadata") {
			t.Errorf("a file was fetched ahead: %s", r.Path)
		}
	}

	// A client's request for a page loaded ahead is a hit.
	if r := m.get(t, "/pypi/simple/dep-one/"); r.header.Get("X-Larder-Cache") != "HIT" {
		t.Errorf("a page loaded ahead: X-Larder-Cache %q, want HIT", r.header.Get("X-Larder-Cache"))
	}
}

package pypi

import (
	"bytes"
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/larder-mirror/larder/pypi/pypitest"
	"github.com/larder-mirror/larder/registries"
)

// A client that reads a file's metadata file downloads the file once its
// resolver has settled: larder has loaded it meanwhile, and the download is
// a hit that costs the upstream nothing more.
func TestTheFileWhoseMetadataAClientReadIsLoadedAhead(t *testing.T) {
	up, m, wheel := mirrorOfApp(t)
	if r := m.get(t, "/pypi/files/app/"+wheel+".metadata"); r.status != http.StatusOK {
		t.Fatalf("GET the metadata file: %d\n%s", r.status, r.body)
	}
	m.waitHeld(t, "app", filePath("app", wheel))
	r := m.get(t, "/pypi/files/app/"+wheel)
	if r.status != http.StatusOK || r.header.Get("X-Larder-Cache") != "HIT" {
		t.Errorf("GET the wheel: %d, X-Larder-Cache %q; want 200, HIT", r.status, r.header.Get("X-Larder-Cache"))
	}
	if n := up.Count("files", http.MethodGet, filesPath(t, up, wheel)); n != 1 {
		t.Errorf("the wheel was asked of the upstream %d times, want 1", n)
	}
}

// mirrorOfApp is a mirror whose upstream holds the wheel of app 1.0, and
// which has read app's page.
func mirrorOfApp(t *testing.T) (*pypitest.Server, *testMirror, string) {
	t.Helper()
	up := pypitest.New()
	t.Cleanup(up.Close)
	wheel := up.AddWheel("app", "1.0", nil, "")
	m := mirrorOf(t, up, registries.Options{})
	m.get(t, "/pypi/simple/app/", "Accept", pipAccept)
	return up, m, wheel
}

// On the quick path (a metadata file held, answered without the handler),
// too.
func TestAMetadataFileAnsweredOnTheQuickPathLoadsItsFileAhead(t *testing.T) {
	up, m, wheel := mirrorOfApp(t)
	metadata := filePath("app", wheel) + ".metadata"
	// The metadata file's row comes with the page's, which may still be
	// committing.
	if err := m.up.AwaitCommit(context.Background(), "app", variantPage); err != nil {
		t.Fatal(err)
	}
	if err := m.up.Preload(context.Background(), metadata); err != nil {
		t.Fatal(err)
	}
	m.waitHeld(t, "app", metadata)
	if n := up.Count("files", http.MethodGet, filesPath(t, up, wheel)); n != 0 {
		t.Fatalf("the wheel was asked of the upstream %d times before a client read its metadata", n)
	}
	// The quick path answers rows larder has read since they were held.
	if _, err := m.up.Artifact(context.Background(), metadata); err != nil {
		t.Fatal(err)
	}
	q, ok := registries.Mount(m.reg).Quick(registries.Request{Path: "/" + metadata, Host: "larder.test"})
	if !ok || q.Cache != registries.Hit {
		t.Fatalf("the quick path did not answer the held metadata file (%v, %q)", ok, q.Cache)
	}
	m.waitHeld(t, "app", filePath("app", wheel))
}

// What is not loaded ahead: a file larger than filesAheadMaxSize, a yanked
// one (pip downloads it only when pinned to it), the file of a metadata
// file only looked at (HEAD) or filled by larder warm, and any under
// files_ahead = false.
//
// Each case's project is asked for before a small one's, whose file is
// loaded: by then, the case's had its turn (under files_ahead = false,
// half a second).
func TestFilesAreNotLoadedAheadWhenLargeOrNotReadByAClient(t *testing.T) {
	large := bytes.Repeat([]byte{'x'}, filesAheadMaxSize+1)
	for _, tc := range []struct {
		why    string
		size   int
		header []string
		head   bool
		yanked bool
		own    Options
	}{
		{why: "larger than filesAheadMaxSize", size: len(large)},
		{why: "yanked", yanked: true},
		{why: "a HEAD of its metadata file", head: true},
		{why: "a warm fill of its metadata file", header: []string{registries.WarmHeader, "1"}},
		{why: "files_ahead = false", own: Options{NoFilesAhead: true}},
	} {
		t.Run(tc.why, func(t *testing.T) {
			up := pypitest.New()
			t.Cleanup(up.Close)
			filename, data := pypitest.Wheel("case", "1.0", nil, "")
			if tc.size > 0 {
				data = large
			}
			up.AddFile("case", filename, data, pypitest.FileOpts{Yanked: tc.yanked, Metadata: pypitest.WheelMetadata("case", "1.0", nil, "")})
			small := up.AddWheel("small", "1.0", nil, "")
			m := newMirrorOf(t, newTestEnv(t), up.IndexURL, []string{up.FilesURL}, registries.Options{}, tc.own)
			m.get(t, "/pypi/simple/case/", "Accept", pipAccept)
			m.get(t, "/pypi/simple/small/", "Accept", pipAccept)
			if tc.head {
				m.head(t, "/pypi/files/case/"+filename+".metadata")
			} else if r := m.get(t, "/pypi/files/case/"+filename+".metadata", tc.header...); r.status != http.StatusOK {
				t.Fatalf("GET the metadata file: %d\n%s", r.status, r.body)
			}
			if tc.own.NoFilesAhead {
				// No file is loaded ahead to wait for: a load would have
				// been asked of the upstream within this.
				time.Sleep(500 * time.Millisecond)
			} else {
				m.get(t, "/pypi/files/small/"+small+".metadata")
				m.waitHeld(t, "small", filePath("small", small))
			}
			m.up.Close() // waits for what was started in the background
			if n := up.Count("files", http.MethodGet, filesPath(t, up, filename)); n != 0 {
				t.Errorf("the file was asked of the upstream %d times, want none", n)
			}
		})
	}
}

// head asks the mirror for path with a HEAD.
func (m *testMirror) head(t *testing.T, path string) {
	t.Helper()
	resp, err := http.Head(m.srv.URL + path)
	if err != nil {
		t.Fatalf("HEAD %s: %v", path, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("HEAD %s: %d", path, resp.StatusCode)
	}
}

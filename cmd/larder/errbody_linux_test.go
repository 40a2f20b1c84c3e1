package main

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/larder-mirror/larder/npm/npmtest"
	"github.com/larder-mirror/larder/pypi/pypitest"
)

// On a full disk, what a client is told says what went wrong, not where on
// the server; the log keeps where. A cold document is answered all the
// same, from the upstream: it is handed over before its commit, which then
// fails, and is logged whole.
func TestAFullDiskShowsClientsNoServerPath(t *testing.T) {
	disk := mountTmpfs(t, "8m")
	npmUp, pypiUp := npmtest.New(), pypitest.New()
	t.Cleanup(npmUp.Close)
	t.Cleanup(pypiUp.Close)
	big := make([]byte, 64<<10)
	for i := range big {
		big[i] = byte(i * 13 % 251)
	}
	for i := range 4 {
		npmUp.PublishTarball(fmt.Sprintf("pkg%d", i), "1.0.0", big, nil)
	}
	wheel := pypiUp.AddWheel("tiny", "1.0", nil, ">=3.8")
	p := startProbeApp(t, filepath.Join(disk, "data"), func(c *Config) {
		c.Offline = false
		c.Registry = []RegistryConfig{
			{Name: "npm", Kind: "npm", Upstream: npmUp.URL, MetadataTTL: "1h"},
			{Name: "pypi", Kind: "pypi", Upstream: pypiUp.IndexURL, Keys: map[string]any{"file_hosts": []string{pypiUp.FilesURL}}, MetadataTTL: "1h"},
		}
	})
	i := 0
	engines(t, p.serving, func(t *testing.T, base string) {
		// Documents are fetched while there is room, so that what fails is
		// storing the download.
		pkg, cold := fmt.Sprintf("pkg%d", i), fmt.Sprintf("pkg%d", i+1)
		i += 2
		if code, body := probe(t, http.MethodGet, base+"/npm/"+pkg); code != http.StatusOK {
			t.Fatalf("packument: %d %s", code, body)
		}
		if code, body := probe(t, http.MethodGet, base+"/pypi/simple/tiny/"); code != http.StatusOK {
			t.Fatalf("project page: %d %s", code, body)
		}
		// Answered before their commits: the disk fills only after both
		// are kept.
		awaitDocument(t, p, "npm", pkg)
		awaitDocument(t, p, "pypi", "tiny")
		fill(t, disk)
		defer unfill(t, disk)
		if code, body := probe(t, http.MethodGet, base+"/npm/"+cold); code != http.StatusOK || !strings.Contains(body, `"name":"`+cold+`"`) {
			t.Errorf("a cold packument on a full disk: %d %q, want the upstream's", code, body)
		}
		// Its commit ends after the answer: the disk stays full until it has.
		for deadline := time.Now().Add(10 * time.Second); !strings.Contains(p.log.String(), "not kept; the next request fetches it again\" registry=npm key="+cold) && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
		for _, path := range []string{"/npm/" + pkg + "/-/" + pkg + "-1.0.0.tgz", "/pypi/files/tiny/" + wheel} {
			code, body := probe(t, http.MethodGet, base+path)
			if code < 500 {
				t.Fatalf("%s on a full disk: %d %q", path, code, body)
			}
			t.Logf("%s: %d %s", path, code, strings.TrimSpace(body))
			if strings.Contains(body, disk) || strings.Contains(body, "blobs/tmp") {
				t.Errorf("%s: the body shows a server path: %q", path, body)
			}
			if !strings.Contains(body, "no space left on device") {
				t.Errorf("%s: the body does not say why: %q", path, body)
			}
		}
	})
	// Each of the six failures is logged whole: the four downloads with the
	// server path the client was not told, the two cold documents' commits
	// (in the database, where no path is involved) with SQLite's own words.
	paths, documents := 0, 0
	for _, line := range strings.Split(p.log.String(), "\n") {
		switch {
		case strings.Contains(line, "told without server paths") && strings.Contains(line, filepath.Join(disk, "data", "blobs", "tmp")):
			paths++
		case strings.Contains(line, "document answered but not kept") && strings.Contains(line, "no space left on device (database or disk is full"):
			documents++
		}
	}
	if paths != 4 || documents != 2 {
		t.Errorf("%d downloads and %d documents logged whole, want 4 and 2:\n%s", paths, documents, p.log.String())
	}
}

// awaitDocument waits until a document of registry under key is in the
// database: a client's request does not, since it may be answered the copy
// that is still being committed.
func awaitDocument(t *testing.T, p *probeApp, registry, key string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		keys, err := p.app.store.DocumentKeys(context.Background(), registry, key)
		if err != nil {
			t.Fatal(err)
		}
		if slices.Contains(keys, key) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the %s document %s is not kept after 10 s (keys %q)", registry, key, keys)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

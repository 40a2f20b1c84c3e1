package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// probeApp is a larder app for readiness tests: offline, so nothing but
// the data folder and the probes matter, with its log kept.
type probeApp struct {
	app     *app
	serving serving
	log     *lockedBuffer
	data    string
	close   func()
}

func startProbeApp(t *testing.T, data string, edit func(*Config)) *probeApp {
	t.Helper()
	cfg := defaultConfig()
	cfg.Data = data
	cfg.Offline = true
	cfg.MinFreeSpace = "0"
	// Offline already keeps larder from the network; an unroutable upstream
	// makes sure of it.
	cfg.Registry = []RegistryConfig{{Name: "npm", Kind: "npm", Upstream: "http://127.0.0.1:9/", MetadataTTL: "1h"}}
	if edit != nil {
		edit(&cfg)
	}
	if err := cfg.validate("test"); err != nil {
		t.Fatal(err)
	}
	p := &probeApp{log: &lockedBuffer{}, data: data}
	a, err := newApp(context.Background(), cfg, newLogger(cfg, p.log), newRequestLog(cfg, io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	p.close = sync.OnceFunc(a.close)
	t.Cleanup(p.close)
	acl, err := newAccess(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p.app, p.serving = a, a.serving(acl)
	return p
}

func probe(t *testing.T, method, url string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	resp, err := noProxy.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// Load balancers probe with HEAD: it answers as GET does, without a body,
// on both engines.
func TestProbesAnswerHEADAsGET(t *testing.T) {
	p := startProbeApp(t, t.TempDir(), nil)
	engines(t, p.serving, func(t *testing.T, base string) {
		for _, path := range []string{"/healthz", "/readyz"} {
			code, body := probe(t, http.MethodGet, base+path)
			if code != http.StatusOK {
				t.Fatalf("GET %s: %d %q", path, code, body)
			}
			code, body = probe(t, http.MethodHead, base+path)
			if code != http.StatusOK || body != "" {
				t.Errorf("HEAD %s: %d %q, want 200 and no body", path, code, body)
			}
		}
	})
}

// wantNotReady checks that /readyz answers 503 on both engines, saying why
// in words that contain no server path: each of why, where one may be
// "this|or that".
func wantNotReady(t *testing.T, p *probeApp, why ...string) {
	t.Helper()
	engines(t, p.serving, func(t *testing.T, base string) {
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			code, body := probe(t, method, base+"/readyz")
			if code != http.StatusServiceUnavailable {
				t.Fatalf("%s /readyz: %d %q, want 503", method, code, body)
			}
			if method == http.MethodHead {
				continue
			}
			t.Logf("/readyz: %s", strings.TrimSpace(body))
			for _, w := range why {
				if !slices.ContainsFunc(strings.Split(w, "|"), func(w string) bool { return strings.Contains(body, w) }) {
					t.Errorf("/readyz says %q, not %q", body, w)
				}
			}
			if strings.Contains(body, p.data) {
				t.Errorf("/readyz shows a server path: %q", body)
			}
		}
	})
}

func TestNotReadyWhenTheDatabaseFileIsDeleted(t *testing.T) {
	p := startProbeApp(t, t.TempDir(), nil)
	if err := os.Remove(filepath.Join(p.data, "larder.db")); err != nil {
		t.Fatal(err)
	}
	wantNotReady(t, p, "larder.db")
	if _, err := os.Stat(filepath.Join(p.data, "larder.db")); err == nil {
		t.Error("the readiness check created a new, empty larder.db")
	}
}

func TestNotReadyWhenTheDatabaseFileIsReplaced(t *testing.T) {
	p := startProbeApp(t, t.TempDir(), nil)
	db := filepath.Join(p.data, "larder.db")
	b, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	// A restore copied over the path: the same bytes, another file.
	if err := os.WriteFile(db+".new", b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(db+".new", db); err != nil {
		t.Fatal(err)
	}
	wantNotReady(t, p, "larder.db")
}

// A database whose file was overwritten is not ready, and the log says so
// once at ERROR, however often it is probed.
func TestNotReadyWithACorruptDatabaseAndSaidOnce(t *testing.T) {
	data := t.TempDir()
	// Opened and closed once, so that what the test overwrites is the whole
	// database, with nothing of it left in the write-ahead log.
	first := startProbeApp(t, data, nil)
	first.close()
	p := startProbeApp(t, data, nil)
	db := filepath.Join(data, "larder.db")
	fi, err := os.Stat(db)
	if err != nil {
		t.Fatal(err)
	}
	garbage := []byte(strings.Repeat("not a database ", int(fi.Size())/15+1))[:fi.Size()]
	f, err := os.OpenFile(db, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(garbage, 0); err != nil {
		t.Fatal(err)
	}
	f.Close()
	wantNotReady(t, p, "database")
	wantNotReady(t, p, "database")
	logged := p.log.String()
	if n := strings.Count(logged, "level=ERROR"); n != 1 {
		t.Errorf("%d ERROR lines, want 1:\n%s", n, logged)
	}
	if !strings.Contains(logged, "corrupt") {
		t.Errorf("the log does not say the database is corrupt:\n%s", logged)
	}
}

func TestNotReadyBelowTheFreeSpaceFloor(t *testing.T) {
	p := startProbeApp(t, t.TempDir(), func(c *Config) { c.MinFreeSpace = "8000000TiB" })
	wantNotReady(t, p, "free", "min_free_space")
}

// Export reads the data folder and writes nothing to it: no lock holder's
// pid, no -wal or -shm file made and removed.
func TestExportWritesNothingToTheDataFolder(t *testing.T) {
	src := newFolder(t)
	before := folderState(t, src.dir)
	archive := filepath.Join(t.TempDir(), "larder.tar")
	if _, stderr, err := run(t, exportCmd, "--out", archive, "--data", src.dir); err != nil {
		t.Fatalf("export: %v\n%s", err, stderr)
	}
	after := folderState(t, src.dir)
	for p, v := range after {
		if before[p] != v {
			t.Errorf("%s changed: %q, was %q", p, v, before[p])
		}
	}
	for p := range before {
		if _, ok := after[p]; !ok {
			t.Errorf("%s was removed", p)
		}
	}
}

// folderState is each entry's kind, size, time and content.
func folderState(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := e.Info()
		if err != nil {
			return err
		}
		v := fmt.Sprintf("%v %d %d", fi.Mode(), fi.Size(), fi.ModTime().UnixNano())
		if fi.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			v += fmt.Sprintf(" %x", sha256.Sum256(b))
		}
		out[strings.TrimPrefix(p, dir)] = v
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/larder-mirror/larder/storage"
)

// holdFolder serves nothing but holds dir as a running larder does, with
// its control socket, until the test ends.
func holdFolder(t *testing.T, dir string) *app {
	t.Helper()
	cfg := defaultConfig()
	cfg.Data = dir
	cfg.Registry = []RegistryConfig{{Name: "npm", Kind: "npm", Upstream: "http://127.0.0.1:9/"}, {Name: "pypi", Kind: "pypi", Upstream: "http://127.0.0.1:9/"}}
	cfg.Offline = true
	if err := cfg.validate("test"); err != nil {
		t.Fatal(err)
	}
	a, err := newApp(context.Background(), cfg, newLogger(cfg, io.Discard), newRequestLog(cfg, io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	stop := a.listenControl(a.log)
	t.Cleanup(func() { stop(); a.close() })
	if fi, err := os.Stat(filepath.Join(dir, controlSocket)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("control socket: %v, mode %v; want one only its owner may use", err, fi.Mode().Perm())
	}
	return a
}

func TestVerifyWorksThroughTheRunningLarderThatHoldsTheFolder(t *testing.T) {
	f := newFolder(t)
	// A blob gone from under the database: verify must say so and repair
	// the row, as it does on a folder nobody holds.
	if err := os.Remove(f.blobPath(f.tarball.SHA256)); err != nil {
		t.Fatal(err)
	}
	a := holdFolder(t, f.dir)
	if _, err := storage.Open(t.Context(), f.dir); err == nil {
		t.Fatal("the folder is not held")
	}

	out, errOut, err := run(t, verifyCmd, "--data", f.dir)
	if err == nil || !strings.Contains(err.Error(), "1 missing") {
		t.Errorf("verify = %v, want a failure for the missing blob", err)
	}
	wantContains(t, "notes", errOut, "a running larder holds "+f.dir+"; working through it")
	wantContains(t, "verify's report", out, "missing blob "+string(f.tarball.SHA256), "artifact npm/lodash/-/lodash-4.17.21.tgz: its bytes forgotten",
		"checked 4 blobs")
	if art, err := a.store.Artifact(t.Context(), "npm", f.tarball.Path); err != nil || art.Cached() {
		t.Errorf("the running larder still holds the artifact whose blob is gone: %+v, %v", art, err)
	}
}

func TestGCWorksThroughTheRunningLarderThatHoldsTheFolder(t *testing.T) {
	f := newFolder(t)
	a := holdFolder(t, f.dir)
	out, errOut, err := run(t, gcCmd, "--data", f.dir, "--max-size", "1B", "-v")
	if err != nil {
		t.Fatal(err)
	}
	wantContains(t, "notes", errOut, "working through it")
	wantContains(t, "gc's report", out, "evicted npm/lodash/-/lodash-4.17.21.tgz", "evicted 2 artifacts, deleting 2 blobs")
	if art, _ := a.store.Artifact(t.Context(), "npm", f.tarball.Path); art.Cached() {
		t.Error("the running larder still holds the evicted artifact")
	}
}

func TestExportWorksThroughTheRunningLarderThatHoldsTheFolder(t *testing.T) {
	f := newFolder(t)
	holdFolder(t, f.dir)
	archive := filepath.Join(t.TempDir(), "a.tar")
	out, errOut, err := run(t, exportCmd, "--data", f.dir, "--out", archive)
	if err != nil {
		t.Fatal(err)
	}
	wantContains(t, "notes", errOut, "working through it")
	wantContains(t, "export's report", out, "exported "+archive+": 2 packages, 2 documents, 2 artifacts; 4 blobs")

	// The archive is whole: it imports into a fresh folder.
	dst := filepath.Join(t.TempDir(), "dst")
	out, _, err = run(t, importCmd, "--data", dst, archive)
	if err != nil {
		t.Fatalf("import of the archive written through the running larder: %v", err)
	}
	wantContains(t, "import's report", out, "artifacts: 2 written")

	// To standard output, with a lockfile that names one tarball.
	lock := filepath.Join(t.TempDir(), "package-lock.json")
	os.WriteFile(lock, []byte(`{"lockfileVersion":3,"packages":{"":{},"node_modules/lodash":{"version":"4.17.21",
	"resolved":"https://registry.npmjs.org/lodash/-/lodash-4.17.21.tgz","integrity":"`+f.tarball.Integrity+`"}}}`), 0o644)
	var stdout, stderr bytes.Buffer
	if err := exportCmd(t.Context(), []string{"--data", f.dir, "--out", "-", "--lockfile", lock}, console{out: &stdout, err: &stderr}); err != nil {
		t.Fatalf("export --lockfile through the running larder: %v\n%s", err, stderr.String())
	}
	wantContains(t, "export's report", stderr.String(), "1 artifact;")
	if !bytes.Contains(stdout.Bytes(), []byte(f.tarballBytes)) || bytes.Contains(stdout.Bytes(), []byte(f.wheelBytes)) {
		t.Error("the archive on standard output does not hold just the lockfile's tarball")
	}
}

func TestAFolderHeldWithoutAControlSocketIsRefusedWithTheReason(t *testing.T) {
	f := newFolder(t)
	s, err := storage.Open(t.Context(), f.dir) // held, as by a larder that has no socket
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, _, err = run(t, verifyCmd, "--data", f.dir)
	if err == nil || !strings.Contains(err.Error(), "does not answer on "+filepath.Join(f.dir, controlSocket)) || !strings.Contains(err.Error(), "stop it") {
		t.Errorf("verify of a folder held with no socket = %v, want the reason and what to do", err)
	}
}

// busyAtEachWrite records, at each write of an answer, whether another
// maintenance task could start.
type busyAtEachWrite struct {
	http.ResponseWriter
	c    *control
	free []bool
}

func (w *busyAtEachWrite) Write(p []byte) (int, error) {
	free := w.c.busy.TryLock()
	if free {
		w.c.busy.Unlock()
	}
	w.free = append(w.free, free)
	return w.ResponseWriter.Write(p)
}

// A script that runs verify --shard 1/2 and then 2/2 starts the second the
// moment the first has its answer: the running larder must take it then,
// not refuse it as busy because the first has not yet let go.
func TestTheControlSocketTakesTheNextTaskOnceItHasAnsweredTheLast(t *testing.T) {
	c := &control{a: &app{log: slog.New(slog.NewTextHandler(io.Discard, nil))}}
	for _, fail := range []bool{false, true} {
		w := &busyAtEachWrite{ResponseWriter: httptest.NewRecorder(), c: c}
		c.run(w, httptest.NewRequest(http.MethodPost, "/verify", nil), "verify", func(ctx context.Context, fw *frameWriter) (any, error) {
			fw.send(frameNote, []byte("working"))
			if fail {
				return nil, errors.New("it failed")
			}
			return map[string]int{"checked": 1}, nil
		})
		// Each frame is two writes: its head, then its payload.
		if want := []bool{false, false, true, true}; !slices.Equal(w.free, want) {
			t.Errorf("failing %v: another task could start at the answer's writes %v; want not while it works and yes once its last frame goes", fail, w.free)
		}
	}
}

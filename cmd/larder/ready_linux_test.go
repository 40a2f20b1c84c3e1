package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// mountTmpfs mounts a small tmpfs for the test, to fill; it skips the test
// where mounting is not allowed.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
			t.Skipf("cannot mount a tmpfs here: %v", err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	return dir
}

func TestNotReadyOnAFullDisk(t *testing.T) {
	disk := mountTmpfs(t, "8m")
	p := startProbeApp(t, filepath.Join(disk, "data"), nil)
	engines(t, p.serving, func(t *testing.T, base string) {
		if code, body := probe(t, http.MethodGet, base+"/readyz"); code != http.StatusOK {
			t.Fatalf("before the disk filled: %d %q", code, body)
		}
	})
	fill(t, disk)
	wantNotReady(t, p, "no space left on device|database or disk is full")
}

// readOnlyMount makes a read-only view of dir, as a mounted snapshot is;
// the test is skipped where mounting is not allowed.
func readOnlyMount(t *testing.T, dir string) string {
	t.Helper()
	view := t.TempDir()
	if err := syscall.Mount(dir, view, "", syscall.MS_BIND, ""); err != nil {
		if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
			t.Skipf("cannot bind-mount here: %v", err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Unmount(view, syscall.MNT_DETACH) })
	if err := syscall.Mount("", view, "", syscall.MS_BIND|syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
		t.Fatalf("remount read-only: %v", err)
	}
	return view
}

// A snapshot mounted read-only is exported.
func TestExportOfAReadOnlyDataFolder(t *testing.T) {
	src := newFolder(t)
	view := readOnlyMount(t, src.dir)
	archive := filepath.Join(t.TempDir(), "larder.tar")
	if _, stderr, err := run(t, exportCmd, "--out", archive, "--data", view); err != nil {
		t.Fatalf("export: %v\n%s", err, stderr)
	}
	dst := filepath.Join(t.TempDir(), "copy")
	if out, _, err := run(t, importCmd, archive, "--data", dst); err != nil {
		t.Fatalf("import: %v", err)
	} else {
		wantContains(t, "import", out, "artifacts: 2 written")
	}
}

// A snapshot mounted read-only is served offline: what it holds, with
// readiness saying so; online, larder refuses it, as it could keep nothing.
func TestServeOfflineAReadOnlyDataFolder(t *testing.T) {
	src := newFolder(t)
	view := readOnlyMount(t, src.dir)
	p := startProbeApp(t, view, nil)
	if !p.app.store.ReadOnly() {
		t.Fatal("the store is not read-only")
	}
	engines(t, p.serving, func(t *testing.T, base string) {
		code, body := probe(t, http.MethodGet, base+"/npm/"+src.tarball.Path)
		if code != http.StatusOK || body != src.tarballBytes {
			t.Errorf("tarball: %d, %d bytes", code, len(body))
		}
		code, body = probe(t, http.MethodGet, base+"/readyz")
		if code != http.StatusOK || !strings.Contains(body, "read-only") {
			t.Errorf("/readyz: %d %q", code, body)
		}
	})
	p.close()

	cfg := defaultConfig()
	cfg.Data = view
	cfg.Registry = []RegistryConfig{{Name: "npm", Kind: "npm", Upstream: "http://127.0.0.1:9/", MetadataTTL: "1h"}}
	if a, err := newApp(context.Background(), cfg, newLogger(cfg, io.Discard), newRequestLog(cfg, io.Discard)); err == nil {
		a.close()
		t.Fatal("served a read-only folder online")
	} else if !strings.Contains(err.Error(), "--offline") {
		t.Errorf("the refusal does not say what to do: %v", err)
	}
}

// fill writes into dir until the disk is full.
func fill(t *testing.T, dir string) {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return
			}
			t.Fatal(err)
		}
	}
}

// unfill gives back what fill took.
func unfill(t *testing.T, dir string) {
	t.Helper()
	if err := os.Remove(filepath.Join(dir, "filler")); err != nil {
		t.Fatal(err)
	}
}

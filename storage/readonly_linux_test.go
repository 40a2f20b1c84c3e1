package storage

import (
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

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

func TestAReadOnlyMountIsRefusedForWritingAndReadReadOnly(t *testing.T) {
	view := readOnlyMount(t, filledStore(t))
	if _, err := Open(t.Context(), view); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("Open of a read-only mount: %v", err)
	}
	s, err := OpenReadOnly(t.Context(), view)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	readThrough(t, s)
	if err := s.Ready(t.Context(), ReadyOptions{}); err != nil {
		t.Errorf("Ready: %v", err)
	}
}

// Root writes through permissions, but not to an immutable file.
func TestAnImmutableDatabaseIsRefusedForWriting(t *testing.T) {
	dir := filledStore(t)
	db := filepath.Join(dir, "larder.db")
	if out, err := exec.Command("chattr", "+i", db).CombinedOutput(); err != nil {
		t.Skipf("cannot make a file immutable here: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("chattr", "-i", db).Run() })
	if _, err := Open(t.Context(), dir); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("Open: %v", err)
	}
	s, err := OpenReadOnly(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	readThrough(t, s)
}

// A folder a blob is renamed into that cannot be written fails the start,
// naming it, rather than every download into it later.
func TestABlobFolderThatCannotBeWrittenIsRefusedAtOpenByName(t *testing.T) {
	dir := filledStore(t)
	fans, err := filepath.Glob(filepath.Join(dir, "blobs", "sha256", "??"))
	if err != nil || len(fans) == 0 {
		t.Fatalf("no blob folder in the filled store: %v", err)
	}
	fan := fans[0]
	if out, err := exec.Command("chattr", "+i", fan).CombinedOutput(); err != nil {
		t.Skipf("cannot make a folder immutable here: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("chattr", "-i", fan).Run() })
	_, err = Open(t.Context(), dir)
	if !errors.Is(err, ErrReadOnly) || !strings.Contains(err.Error(), fan+" cannot be written") {
		t.Fatalf("Open with %s immutable: %v, want an error naming it", fan, err)
	}
}

package storage_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/larder-mirror/larder/storage"
	"github.com/larder-mirror/larder/storage/storagetest"
)

func TestFSBlobsPassesTheConformanceSuite(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Blobs {
		b, _ := newFSBlobs(t)
		return b
	})
}

// newFSBlobs opens a blob folder of the test's own and, when the test ends,
// fails it if anything is left in tmp/: every write must be committed or
// cancelled, and either way leaves nothing behind.
func newFSBlobs(t *testing.T) (*storage.FSBlobs, string) {
	t.Helper()
	root := filepath.Join(t.TempDir(), "blobs")
	b, err := storage.OpenFSBlobs(root)
	if err != nil {
		t.Fatalf("OpenFSBlobs: %v", err)
	}
	t.Cleanup(func() { wantEmptyDir(t, filepath.Join(root, "tmp")) })
	return b, root
}

func wantEmptyDir(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Errorf("reading %s: %v", dir, err)
		return
	}
	for _, e := range entries {
		t.Errorf("%s was left behind in %s", e.Name(), dir)
	}
}

func commit(t *testing.T, b storage.Blobs, content []byte) storage.Digest {
	t.Helper()
	w, err := b.Create(t.Context())
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	defer w.Cancel()
	if _, err := w.Write(content); err != nil {
		t.Fatalf("Write: %v", err)
	}
	d, _, err := w.Commit(t.Context(), "")
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	return d
}

func TestOpenFSBlobsRemovesWritesACrashInterrupted(t *testing.T) {
	b, root := newFSBlobs(t)
	kept := commit(t, b, []byte("committed before the crash"))

	// A crash mid-write leaves a temporary file (and, from some future
	// writer, perhaps a folder) in tmp/.
	w, err := b.Create(t.Context())
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if _, err := w.Write([]byte("half a tarb")); err != nil {
		t.Fatalf("Write: %v", err)
	}
	tmp := filepath.Join(root, "tmp")
	if err := os.MkdirAll(filepath.Join(tmp, "upload-1", "part"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "upload-1", "part", "0"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}

	b, err = storage.OpenFSBlobs(root)
	if err != nil {
		t.Fatalf("reopening: %v", err)
	}
	wantEmptyDir(t, tmp)
	if _, err := b.Stat(t.Context(), kept); err != nil {
		t.Errorf("the blob committed before the crash is gone: %v", err)
	}
}

func TestFSBlobsLayOutBlobsBySHA256AndItsFirstTwoDigits(t *testing.T) {
	b, root := newFSBlobs(t)
	content := []byte("hello")
	d := commit(t, b, content)
	const want = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
	if d != want {
		t.Fatalf("digest of %q = %s, want %s", content, d, want)
	}
	got, err := os.ReadFile(filepath.Join(root, "sha256", "2c", want))
	if err != nil {
		t.Fatalf("the blob is not at sha256/2c/%s: %v", want, err)
	}
	if !bytes.Equal(got, content) {
		t.Errorf("sha256/2c/%s holds %q, want %q", want, got, content)
	}

	var files []string
	shards := 0
	err = filepath.WalkDir(root, func(p string, e os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		switch {
		case e.IsDir() && path.Dir(rel) == "sha256":
			shards++
		case !e.IsDir():
			files = append(files, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if wantFiles := []string{"sha256/2c/" + want}; !slices.Equal(files, wantFiles) {
		t.Errorf("the blob folder holds the files %q, want %q", files, wantFiles)
	}
	// Every shard is made at open, so that no write pays for making one.
	if shards != 256 {
		t.Errorf("sha256/ holds %d shard folders, want 256", shards)
	}
}

func TestFSBlobsRemakeAShardFolderRemovedSinceOpen(t *testing.T) {
	b, root := newFSBlobs(t)
	if err := os.Remove(filepath.Join(root, "sha256", "2c")); err != nil {
		t.Fatal(err)
	}
	d := commit(t, b, []byte("hello"))
	if _, err := os.Stat(filepath.Join(root, "sha256", "2c", string(d))); err != nil {
		t.Fatalf("the blob was not kept once its shard was made again: %v", err)
	}
}

func TestFSBlobsOpenReturnsAnOSFileSoNetHTTPCanSendfile(t *testing.T) {
	b, _ := newFSBlobs(t)
	d := commit(t, b, []byte("sendfile me"))
	r, _, err := b.Open(t.Context(), d)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer r.Close()
	if _, ok := r.(*os.File); !ok {
		t.Errorf("Open returned a %T, want an *os.File", r)
	}
}

func TestFSBlobsWalkSkipsFilesThatAreNotBlobs(t *testing.T) {
	b, root := newFSBlobs(t)
	d := commit(t, b, []byte("a blob"))
	for _, name := range []string{"notablob", strings.ToUpper(string(d)), string(d) + ".partial"} {
		if err := os.WriteFile(filepath.Join(root, "sha256", string(d[:2]), name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var got []storage.Digest
	err := b.Walk(t.Context(), func(d storage.Digest, _ int64) error {
		got = append(got, d)
		return nil
	})
	if err != nil {
		t.Fatalf("Walk: %v", err)
	}
	if !slices.Equal(got, []storage.Digest{d}) {
		t.Errorf("Walk lists %v, want only %s", got, d)
	}
}

func TestFSBlobsNeverLetAMalformedDigestReachTheFileSystem(t *testing.T) {
	// Were a digest used as a path unchecked, this one would name
	// base/a/victim: sha256/<first two characters>/<digest> climbs out of
	// base/a/b/c/blobs.
	base := t.TempDir()
	root := filepath.Join(base, "a", "b", "c", "blobs")
	b, err := storage.OpenFSBlobs(root)
	if err != nil {
		t.Fatalf("OpenFSBlobs: %v", err)
	}
	const d = storage.Digest("../../../victim")
	victim := filepath.Join(root, "sha256", string(d[:2]), string(d))
	if want := filepath.Join(base, "a", "victim"); victim != want {
		t.Fatalf("the test's victim is at %s, want %s", victim, want)
	}
	if err := os.WriteFile(victim, []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}

	r, _, err := b.Open(t.Context(), d)
	if err == nil {
		got, _ := io.ReadAll(r)
		r.Close()
		t.Errorf("Open(%q) read %q from outside the blob folder", d, got)
	} else if !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Open(%q) = %v, want ErrNotFound", d, err)
	}
	if _, err := b.Stat(t.Context(), d); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Stat(%q) = %v, want ErrNotFound", d, err)
	}
	if err := b.Delete(t.Context(), d); err != nil {
		t.Errorf("Delete(%q) = %v, want nil", d, err)
	}
	if _, err := os.Stat(victim); err != nil {
		t.Errorf("Delete(%q) removed a file outside the blob folder: %v", d, err)
	}
}

func TestASecondProcessCannotOpenAHeldDataFolder(t *testing.T) {
	dir := t.TempDir()
	s, err := storage.Open(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := storage.Open(t.Context(), dir); !errors.Is(err, storage.ErrInUse) {
		t.Fatalf("second Open = %v, want storage.ErrInUse", err)
	}
	s.Close()
	s2, err := storage.Open(t.Context(), dir)
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	s2.Close()
}

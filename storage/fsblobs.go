package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// FSBlobs keeps blobs in a local folder (see the package doc for the layout).
type FSBlobs struct {
	root     string
	shared   sharedBlobs
	readOnly bool // opened by OpenReadOnly: Create and Delete refuse
}

// OpenFSBlobs opens (creating if needed) a blob folder and empties its tmp/
// folder: anything there is a write a crash interrupted.
func OpenFSBlobs(root string) (*FSBlobs, error) {
	for _, dir := range []string{filepath.Join(root, "sha256"), filepath.Join(root, "tmp")} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("blob store: %w", err)
		}
	}
	tmp := filepath.Join(root, "tmp")
	entries, err := os.ReadDir(tmp)
	if err != nil {
		return nil, fmt.Errorf("blob store: %w", err)
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(tmp, e.Name())); err != nil {
			return nil, fmt.Errorf("blob store: removing interrupted write: %w", err)
		}
	}
	if err := makeShards(filepath.Join(root, "sha256")); err != nil {
		return nil, fmt.Errorf("blob store: %w", err)
	}
	return &FSBlobs{root: root}, nil
}

// makeShards creates the 256 shard folders a store can ever need, once: a
// shard made on the way of a write would cost that write a mkdir and a sync
// of the parent folder, and a cold install writes into most shards.
func makeShards(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	have := make(map[string]bool, len(entries))
	for _, e := range entries {
		have[e.Name()] = true
	}
	const hex = "0123456789abcdef"
	made := false
	for _, a := range hex {
		for _, b := range hex {
			name := string(a) + string(b)
			if have[name] {
				continue
			}
			if err := os.Mkdir(filepath.Join(dir, name), 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
				return err
			}
			made = true
		}
	}
	if made {
		return syncDir(dir)
	}
	return nil
}

func (s *FSBlobs) path(d Digest) string {
	return filepath.Join(s.root, "sha256", string(d[:2]), string(d))
}

func (s *FSBlobs) Open(ctx context.Context, d Digest) (io.ReadSeekCloser, int64, error) {
	if !d.valid() {
		return nil, 0, fmt.Errorf("blob %q: %w", d, ErrNotFound)
	}
	f, err := openBlob(s.path(d))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, fmt.Errorf("blob %s: %w", d, ErrNotFound)
	}
	if err != nil {
		return nil, 0, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, fi.Size(), nil
}

func (s *FSBlobs) Stat(ctx context.Context, d Digest) (int64, error) {
	if !d.valid() {
		return 0, fmt.Errorf("blob %q: %w", d, ErrNotFound)
	}
	fi, err := os.Stat(s.path(d))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("blob %s: %w", d, ErrNotFound)
	}
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

func (s *FSBlobs) Delete(ctx context.Context, d Digest) error {
	if s.readOnly {
		return fmt.Errorf("blob store: %w", ErrReadOnly)
	}
	if !d.valid() {
		return nil
	}
	err := os.Remove(s.path(d))
	// After the removal, so that no request can open it again meanwhile.
	s.dropShared(d)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

func (s *FSBlobs) Walk(ctx context.Context, fn func(Digest, int64) error) error {
	return filepath.WalkDir(filepath.Join(s.root, "sha256"), func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() {
			return ctx.Err()
		}
		d := Digest(e.Name())
		if !d.valid() {
			return nil
		}
		fi, err := e.Info()
		if err != nil {
			return err
		}
		return fn(d, fi.Size())
	})
}

func (s *FSBlobs) Create(ctx context.Context) (BlobWriter, error) {
	if s.readOnly {
		return nil, fmt.Errorf("blob store: %w", ErrReadOnly)
	}
	return newSpoolWriter(filepath.Join(s.root, "tmp"), s.keep)
}

// keep makes a spooled blob durable and renames it into its place.
func (s *FSBlobs) keep(_ context.Context, f *os.File, got Digest, _ int64) error {
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(f.Name())
		return fmt.Errorf("blob store: sync: %w", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("blob store: close: %w", err)
	}
	final := s.path(got)
	// The shard folder was made at open; should something have removed it
	// since, the rename says so and it is made again.
	err := os.Rename(f.Name(), final)
	newShard := false
	if errors.Is(err, fs.ErrNotExist) {
		if err = os.MkdirAll(filepath.Dir(final), 0o755); err == nil {
			newShard = true
			err = os.Rename(f.Name(), final)
		}
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("blob store: %w", err)
	}
	// The rename is durable only once the directory entry is, and a new
	// shard folder only once its own entry is: the row that follows must
	// never point at a blob a crash can take back.
	if err := syncDir(filepath.Dir(final)); err != nil {
		return fmt.Errorf("blob store: %w", err)
	}
	if newShard {
		if err := syncDir(filepath.Dir(filepath.Dir(final))); err != nil {
			return fmt.Errorf("blob store: %w", err)
		}
	}
	return nil
}

// syncDir makes a folder's entries durable.
func syncDir(path string) error {
	dir, err := os.Open(path)
	if err != nil {
		return err
	}
	defer dir.Close()
	if err := dir.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", path, err)
	}
	return nil
}

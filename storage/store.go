package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// ErrInUse is returned by Open when another process holds the data folder.
var ErrInUse = errors.New("data folder in use")

// ErrReadOnly: the data folder, or a file in it, cannot be written (a
// read-only mount, files made immutable, or permissions). OpenReadOnly
// reads such a folder.
var ErrReadOnly = errors.New("read-only")

// Store is a data folder: the database and the blob store beside it.
type Store struct {
	*DB
	Blobs Blobs
	Dir   string
	lock  *os.File

	removals removals // observers of OnRemoved
	counts   counters
	// gcMu: one gc at a time in this process (max_cache_size's and one
	// asked for through the control socket), each evicting from what the
	// one before it left; ClusterLock does the same across nodes.
	gcMu sync.Mutex
}

// Open opens the data folder dir, creating it on first use. One process at
// a time holds a data folder: opening empties blobs/tmp/ (writes a crash
// interrupted), which would destroy another process's downloads in progress.
// A folder that cannot be written is refused with an error wrapping
// ErrReadOnly, before anything in it is touched.
func Open(ctx context.Context, dir string) (*Store, error) {
	return OpenWith(ctx, dir, Backends{})
}

// Backends say where a Store keeps its metadata and its blobs when not in
// its data folder. The zero value is the embedded default: larder.db
// (SQLite) and blobs/ in the data folder.
type Backends struct {
	// Database is a postgres:// URL; empty: SQLite in the data folder.
	Database string
	// BlobStore is an s3:// URL (see ParseS3URL); empty: the data
	// folder's blobs/.
	BlobStore string
}

// Shared reports whether either backend is shared with other nodes.
func (b Backends) Shared() bool { return b.Database != "" || b.BlobStore != "" }

// OpenWith opens the data folder dir with its metadata and blobs where b
// says. The data folder is still this process's own (locked, as by Open):
// downloads in progress are staged in it whatever holds the blobs.
//
// When either backend is shared, the database and the blob store must be
// a pair (see identity.go): a blob store that is not the database's is
// refused with an error wrapping ErrStoreMismatch, before anything is
// changed.
func OpenWith(ctx context.Context, dir string, b Backends) (*Store, error) {
	return openWith(ctx, dir, b, true)
}

func openWith(ctx context.Context, dir string, b Backends, checkPair bool) (*Store, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		if readOnlyErr(err) {
			return nil, fmt.Errorf("data folder %s: %w: %v", dir, ErrReadOnly, bareError(err))
		}
		return nil, fmt.Errorf("data folder: %w", err)
	}
	if err := checkWritable(dir); err != nil {
		return nil, err
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	blobs, err := openBlobs(ctx, dir, b.BlobStore)
	if err != nil {
		lock.Close()
		return nil, err
	}
	dbPath := filepath.Join(dir, "larder.db")
	if b.Database != "" {
		dbPath = b.Database
	}
	db, err := OpenDB(ctx, dbPath)
	if err != nil {
		if c, ok := blobs.(io.Closer); ok {
			c.Close()
		}
		lock.Close()
		return nil, err
	}
	s := &Store{DB: db, Blobs: blobs, Dir: dir, lock: lock}
	if checkPair && b.Shared() {
		if err := s.checkIdentity(ctx, false); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// OpenReadOnly opens a data folder that holds a database already, to read
// it and write nothing: an export, or a mounted snapshot served offline. It
// takes the folder's lock shared, so that readers run side by side but never
// beside a process that writes (Open takes it exclusive). The database is
// read as immutable, without SQLite's locks or -shm file, unless its
// write-ahead log holds pages the file lacks (a copy of a running larder),
// which SQLite must then read through.
func OpenReadOnly(ctx context.Context, dir string) (*Store, error) {
	dbPath := filepath.Join(dir, "larder.db")
	if _, err := os.Stat(dbPath); err != nil {
		return nil, fmt.Errorf("data folder %s: %w", dir, err)
	}
	lock, err := lockDirShared(dir)
	if err != nil {
		return nil, err
	}
	mode := modeImmutable
	if fi, err := os.Stat(dbPath + "-wal"); err == nil && fi.Size() > 0 {
		mode = modeReadOnly
	}
	db, err := openDB(ctx, dbPath, mode)
	if err != nil {
		if lock != nil {
			lock.Close()
		}
		return nil, err
	}
	blobs := &FSBlobs{root: filepath.Join(dir, "blobs"), readOnly: true}
	return &Store{DB: db, Blobs: blobs, Dir: dir, lock: lock}, nil
}

// OpenReadOnlyWith opens a store to read it and write nothing, where b says
// its metadata and blobs are. With a shared database nothing of the data
// folder is read or locked: another node, or a serve beside this export,
// may hold it.
func OpenReadOnlyWith(ctx context.Context, dir string, b Backends) (*Store, error) {
	if b.Database == "" {
		return OpenReadOnly(ctx, dir)
	}
	db, err := openDB(ctx, b.Database, modeReadOnly)
	if err != nil {
		return nil, err
	}
	var blobs Blobs = &FSBlobs{root: filepath.Join(dir, "blobs"), readOnly: true}
	if b.BlobStore != "" {
		if blobs, err = OpenS3Blobs(ctx, b.BlobStore, ""); err != nil {
			db.Close()
			return nil, err
		}
	}
	s := &Store{DB: db, Blobs: blobs, Dir: dir}
	if err := s.checkIdentity(ctx, true); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the database and releases the data folder.
func (s *Store) Close() error {
	if c, ok := s.Blobs.(io.Closer); ok {
		c.Close()
	}
	err := s.DB.Close()
	if s.lock != nil {
		s.lock.Close() // closing the descriptor releases the flock
	}
	return err
}

// checkWritable refuses a folder whose files cannot be written. access(2)
// answers as the kernel would for a write, root included: a read-only
// mount (EROFS) and an immutable file (EPERM) stop root too.
// Every folder a blob is renamed into is checked too: one that cannot be
// written would fail each download into it with a 500, long after start.
func checkWritable(dir string) error {
	blobs := filepath.Join(dir, "blobs", "sha256")
	paths := []string{dir, filepath.Join(dir, "larder.lock"), filepath.Join(dir, "larder.db"),
		filepath.Join(dir, "larder.db-wal"), filepath.Join(dir, "blobs"), filepath.Join(dir, "blobs", "tmp"), blobs}
	if fans, err := os.ReadDir(blobs); err == nil {
		for _, f := range fans {
			if f.IsDir() {
				paths = append(paths, filepath.Join(blobs, f.Name()))
			}
		}
	}
	for _, p := range paths {
		err := syscall.Access(p, 2) // W_OK
		if err != nil && readOnlyErr(err) {
			return fmt.Errorf("data folder %s: %w: %s cannot be written (%v)", dir, ErrReadOnly, p, err)
		}
	}
	return nil
}

func readOnlyErr(err error) bool {
	return errors.Is(err, syscall.EROFS) || errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES)
}

// lockDir takes an exclusive advisory lock on dir/larder.lock and writes
// the holder's pid into it, for the message another process gets.
func lockDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, "larder.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("data folder: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("%w: %s is held by another larder process (%s); stop it first", ErrInUse, dir, holder(path))
	}
	f.Truncate(0)
	f.WriteAt([]byte(fmt.Sprintf("%d\n", os.Getpid())), 0)
	return f, nil
}

// lockDirShared takes a shared lock on dir/larder.lock, opened for reading.
// A folder without a lock file that cannot be given one is read unlocked:
// it is read-only, so no larder can be writing it through this mount.
func lockDirShared(dir string) (*os.File, error) {
	path := filepath.Join(dir, "larder.lock")
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		f, err = os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o644)
		if err != nil && readOnlyErr(err) {
			return nil, nil
		}
	}
	if err != nil {
		return nil, fmt.Errorf("data folder: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("%w: %s is held by a larder process that writes it (%s); stop it first", ErrInUse, dir, holder(path))
	}
	return f, nil
}

// holder names who holds the lock at path. Only a writer leaves its pid
// there; a reader (an export) leaves the last writer's, long gone perhaps.
func holder(path string) string {
	b, _ := os.ReadFile(path)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err == nil && pid > 0 {
		// Signal 0 asks only whether the process exists; EPERM says it does.
		if err := syscall.Kill(pid, 0); err == nil || errors.Is(err, syscall.EPERM) {
			return fmt.Sprintf("pid %d", pid)
		}
	}
	return "one that reads it, such as an export"
}

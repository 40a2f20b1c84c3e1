package storage

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestReadyWritesTheDatabaseAndTheBlobStoreAndLeavesNothing(t *testing.T) {
	s := newStore(t) // fails the test if anything is left in blobs/tmp
	if err := s.Ready(t.Context(), ReadyOptions{MinFree: 1}); err != nil {
		t.Fatal(err)
	}
	var at int64
	if err := s.sql.QueryRowContext(t.Context(), `SELECT checked_at FROM readiness WHERE id = 1`).Scan(&at); err != nil {
		t.Fatalf("the check wrote nothing to the database: %v", err)
	}
	if time.Since(time.UnixMilli(at)) > time.Minute {
		t.Errorf("checked_at = %v", time.UnixMilli(at))
	}
	var low *LowSpaceError
	if err := s.Ready(t.Context(), ReadyOptions{MinFree: 1 << 62}); !errors.As(err, &low) || low.Floor != 1<<62 || low.Free <= 0 {
		t.Errorf("with a floor above any disk: %v", err)
	}
}

const filledPackages = 60

// filledStore is a closed data folder whose database spans many pages,
// with nothing of it left in the write-ahead log.
func filledStore(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	s, err := Open(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := range filledPackages {
		name := fmt.Sprintf("package-%03d", i)
		putDoc(t, s, Document{Registry: "npm", Key: name, Variant: "full", ContentType: "application/json", FetchedAt: at(i)}, `{"name":"`+name+`"}`, name)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Damage deep in a table is found by whichever query reads it, not by the
// readiness check: it is reported once, and the store is not ready from
// then on.
func TestCorruptionAnyQueryMeetsIsReportedOnceAndKeepsTheStoreNotReady(t *testing.T) {
	dir := filledStore(t)
	s, err := Open(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var reported atomic.Int32
	var first atomic.Value
	s.OnCorrupt(func(err error) {
		reported.Add(1)
		first.Store(err)
	})
	if err := s.Ready(t.Context(), ReadyOptions{}); err != nil {
		t.Fatalf("before the damage: %v", err)
	}
	// Page 1 (the header and the schema's root) stays; the tables do not.
	f, err := os.OpenFile(filepath.Join(dir, "larder.db"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := f.Stat()
	const page = 4096
	garbage := []byte(strings.Repeat("\xde\xad\xbe\xef", int(fi.Size()-page)/4))
	if _, err := f.WriteAt(garbage, page); err != nil {
		t.Fatal(err)
	}
	f.Close()
	for range 3 {
		if _, err := s.PackageNames(t.Context(), "npm"); err == nil {
			t.Fatal("a query read a damaged table without an error")
		}
	}
	if n := reported.Load(); n != 1 {
		t.Fatalf("reported %d times, want once", n)
	}
	if err, _ := first.Load().(error); !isCorrupt(err) {
		t.Errorf("reported %v", err)
	}
	if err := s.Ready(t.Context(), ReadyOptions{}); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Ready after the damage: %v", err)
	}
	// Set late, a report still comes: damage is never found unsaid.
	var late atomic.Int32
	s.OnCorrupt(func(error) { late.Add(1) })
	if late.Load() != 1 {
		t.Errorf("a report set after the damage was found was told %d times", late.Load())
	}
}

// tree is what a folder holds: each entry's kind, size, time and content.
func tree(t *testing.T, dir string) map[string]string {
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

func wantSameTree(t *testing.T, before, after map[string]string) {
	t.Helper()
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

// readThrough reads what a filled store holds, as export and an offline
// larder would.
func readThrough(t *testing.T, s *Store) {
	t.Helper()
	names, err := s.PackageNames(t.Context(), "npm")
	if err != nil || len(names) != filledPackages {
		t.Fatalf("PackageNames: %d, %v", len(names), err)
	}
	doc, err := s.Document(t.Context(), "npm", "package-007", "full")
	if err != nil {
		t.Fatal(err)
	}
	r, _, err := s.Blobs.Open(t.Context(), doc.Body)
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
}

func TestOpenReadOnlyWritesNothing(t *testing.T) {
	dir := filledStore(t)
	before := tree(t, dir)
	s, err := OpenReadOnly(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	readThrough(t, s)
	if err := s.Ready(t.Context(), ReadyOptions{MinFree: 1 << 62}); err != nil {
		t.Errorf("Ready: %v (a read-only store is ready when it reads)", err)
	}
	if !s.ReadOnly() {
		t.Error("ReadOnly() = false")
	}
	if _, err := s.Blobs.Create(t.Context()); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Create: %v", err)
	}
	if err := s.RecordServed(t.Context(), []Served{{Registry: "npm", Package: "package-007", Hits: 1, At: time.Now()}}); err != nil {
		t.Errorf("RecordServed: %v", err)
	}
	if err := s.PutDocument(t.Context(), Document{Registry: "npm", Key: "x", Variant: "full", FetchedAt: at(0)}, "x"); err == nil {
		t.Error("a write to a read-only database succeeded")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wantSameTree(t, before, tree(t, dir))
}

// Readers share a folder; a writer and a reader never do.
func TestReadersShareTheLockAndAWriterIsRefused(t *testing.T) {
	dir := filledStore(t)
	r1, err := OpenReadOnly(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := OpenReadOnly(t.Context(), dir)
	if err != nil {
		t.Fatalf("a second reader: %v", err)
	}
	if _, err := Open(t.Context(), dir); !errors.Is(err, ErrInUse) {
		t.Errorf("a writer beside readers: %v", err)
	}
	r1.Close()
	r2.Close()
	w, err := Open(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := OpenReadOnly(t.Context(), dir); !errors.Is(err, ErrInUse) {
		t.Errorf("a reader beside a writer: %v", err)
	}
}

// A copy of a running larder's folder has pages only in its write-ahead
// log; reading it read-only sees them.
func TestOpenReadOnlyReadsTheWriteAheadLogOfACopy(t *testing.T) {
	src := filepath.Join(t.TempDir(), "live")
	s, err := Open(t.Context(), src)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	putDoc(t, s, Document{Registry: "npm", Key: "late", Variant: "full", ContentType: "application/json", FetchedAt: at(1)}, `{"name":"late"}`, "late")
	dst := filepath.Join(t.TempDir(), "copy")
	if out, err := exec.Command("cp", "-a", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v: %s", err, out)
	}
	if fi, err := os.Stat(filepath.Join(dst, "larder.db-wal")); err != nil || fi.Size() == 0 {
		t.Skipf("the copy has no write-ahead log to read (%v)", err)
	}
	c, err := OpenReadOnly(t.Context(), dst)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Document(t.Context(), "npm", "late", "full"); err != nil {
		t.Errorf("the row only the log holds: %v", err)
	}
}

// However the first damage and the callback's arrival interleave, the
// callback hears of it once.
func TestCorruptionIsToldOnceWhateverComesFirst(t *testing.T) {
	path := filepath.Join(t.TempDir(), "garbage.db")
	if err := os.WriteFile(path, []byte(strings.Repeat("not a database ", 512)), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := OpenDB(t.Context(), path)
	if err == nil {
		d.Close()
		t.Fatal("opened garbage as a database")
	}
	if !isCorrupt(err) {
		t.Fatalf("SQLite's error for garbage is not taken for damage: %v", err)
	}
	for range 200 {
		var c corruption
		var told atomic.Int32
		done := make(chan struct{})
		go func() {
			c.check(err)
			close(done)
		}()
		c.onReport(func(error) { told.Add(1) })
		<-done
		if n := told.Load(); n != 1 {
			t.Fatalf("told %d times", n)
		}
	}
}

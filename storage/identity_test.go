package storage

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/larder-mirror/larder/storage/backendtest"
)

var (
	blobsBucketOnce sync.Once
	blobsBucket     string
	blobsPrefixes   atomic.Int64
)

// newBlobStoreURL is a blob store of the test's own: a prefix of its own
// in one bucket of this process. (SeaweedFS gives each bucket volumes of
// its own, and a test server has few; an empty bucket, which a refused
// node never writes to, costs none.)
func newBlobStoreURL(t *testing.T) string {
	t.Helper()
	blobsBucketOnce.Do(func() { blobsBucket = backendtest.NewBucket(t) })
	i := strings.IndexByte(blobsBucket, '?')
	return fmt.Sprintf("%s/store-%d%s", blobsBucket[:i], blobsPrefixes.Add(1), blobsBucket[i:])
}

// pair is a PostgreSQL database and an S3 bucket, filled through a node
// that has been closed since: what a cluster leaves between starts.
type pair struct {
	Backends
	id   string
	held []Artifact
}

func newPair(t *testing.T) pair {
	t.Helper()
	p := pair{Backends: Backends{Database: backendtest.NewDatabase(t), BlobStore: newBlobStoreURL(t)}}
	s := openNode(t, p.Backends)
	for i := range 6 {
		p.held = append(p.held, hold(t, s, npmTarball(fmt.Sprint("pkg", i), "1.0.0"), fmt.Sprint("tarball ", i), at(i)))
	}
	putDoc(t, s, Document{Registry: "npm", Key: "pkg0", Variant: "full", FetchedAt: at(0)}, `{"name":"pkg0"}`, "pkg0")
	p.id = identityOf(t, s)
	s.Close()
	return p
}

// openNode opens a store as a node starting on b would, with a data folder
// of its own, closed when the test ends.
func openNode(t *testing.T, b Backends) *Store {
	t.Helper()
	s, err := OpenWith(t.Context(), t.TempDir(), b)
	if err != nil {
		t.Fatalf("OpenWith: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// identityOf is the store's id, failing the test unless the database and
// the blob store agree on it.
func identityOf(t *testing.T, s *Store) string {
	t.Helper()
	dbID, marker, err := s.readIdentity(t.Context(), s.Blobs.(identityMarker))
	if err != nil || dbID == "" || dbID != marker {
		t.Fatalf("identity: database %q, marker %q, %v; want one id in both", dbID, marker, err)
	}
	return dbID
}

// snapshot is every row of the database b names and every blob and
// marker of the blob store (dir's blobs/ when b names none), read without
// the identity check.
func snapshot(t *testing.T, dir string, b Backends) map[string][]string {
	t.Helper()
	db, err := OpenDB(t.Context(), b.Database)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	blobs, err := openBlobs(t.Context(), dir, b.BlobStore)
	if err != nil {
		t.Fatal(err)
	}
	s := &Store{DB: db, Blobs: blobs}
	st := state(t, s)
	st["identity"] = rows(t, s, `SELECT * FROM store_identity`)
	marker, err := blobs.(identityMarker).readMarker(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	st["marker"] = []string{marker}
	return st
}

func wantRefused(t *testing.T, err error, says ...string) {
	t.Helper()
	if !errors.Is(err, ErrStoreMismatch) {
		t.Fatalf("opened: %v; want it refused with ErrStoreMismatch", err)
	}
	for _, w := range says {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("the refusal %q does not say %q", err, w)
		}
	}
}

func TestANodeGivenTheRightDatabaseAndAnotherBlobStoreRefusesAndChangesNothing(t *testing.T) {
	p := newPair(t)
	other := newPair(t) // a bucket marked as another pair's
	empty := backendtest.NewBucket(t)
	for _, tt := range []struct {
		name      string
		blobStore string
		dir       string // the node's data folder; its blobs/ when blobStore is ""
		says      []string
	}{
		{"an empty bucket", empty, t.TempDir(), []string{empty, "has no larder marker", p.id, RedactedDatabase(p.Database)}},
		{"another pair's bucket", other.BlobStore, t.TempDir(), []string{other.BlobStore, other.id, p.id, RedactedDatabase(p.Database), "never used together"}},
		{"no blob_store: the node's own folder", "", t.TempDir(), []string{"has no larder marker", p.id}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			wrong := Backends{Database: p.Database, BlobStore: tt.blobStore}
			before, beforeRight := snapshot(t, tt.dir, wrong), snapshot(t, t.TempDir(), p.Backends)
			_, err := OpenWith(t.Context(), tt.dir, wrong)
			if tt.blobStore == "" {
				tt.says = append(tt.says, filepath.Join(tt.dir, "blobs"))
			}
			wantRefused(t, err, tt.says...)
			if after := snapshot(t, tt.dir, wrong); !reflect.DeepEqual(before, after) {
				t.Errorf("the refused node changed its pair:\nbefore %v\nafter  %v", before, after)
			}
			if after := snapshot(t, t.TempDir(), p.Backends); !reflect.DeepEqual(beforeRight, after) {
				t.Errorf("the refused node changed the database's own pair:\nbefore %v\nafter  %v", beforeRight, after)
			}
		})
	}
	// The right pair still opens, with every file held.
	s := openNode(t, p.Backends)
	if identityOf(t, s) != p.id {
		t.Error("the pair's id changed")
	}
	for _, a := range p.held {
		if got, err := s.Artifact(t.Context(), a.Registry, a.Path); err != nil || !got.Cached() {
			t.Errorf("%s: %+v, %v; want it held", a.Path, got, err)
		}
	}
	// An export (read-only) is refused the wrong pair too.
	_, err := OpenReadOnlyWith(t.Context(), t.TempDir(), Backends{Database: p.Database, BlobStore: empty})
	wantRefused(t, err, empty)
}

func TestNodesStartingTogetherOnANewPairAgreeOnOneID(t *testing.T) {
	b := Backends{Database: backendtest.NewDatabase(t), BlobStore: newBlobStoreURL(t)}
	nodes := make([]*Store, 4)
	var wg sync.WaitGroup
	for i := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := OpenWith(t.Context(), t.TempDir(), b)
			if err != nil {
				t.Errorf("OpenWith beside three others: %v", err)
				return
			}
			nodes[i] = s
		}()
	}
	wg.Wait()
	ids := map[string]bool{}
	for _, s := range nodes {
		if s != nil {
			ids[identityOf(t, s)] = true
			s.Close()
		}
	}
	if len(ids) != 1 {
		t.Errorf("four nodes started together recorded ids %v; want one", ids)
	}
}

// forgetIdentity makes a pair look as it did before ids: no row, no marker.
func forgetIdentity(t *testing.T, b Backends, row, marker bool) {
	t.Helper()
	s := openNode(t, b)
	if row {
		if _, err := s.DB.sql.ExecContext(t.Context(), `DELETE FROM store_identity`); err != nil {
			t.Fatal(err)
		}
	}
	if marker {
		s3 := s.Blobs.(*S3Blobs)
		if err := s3.client.RemoveObject(t.Context(), s3.bucket, s3.markerKey(), minio.RemoveObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
}

func TestAPairFromBeforeIDsAdoptsOneAndAWrongBucketIsRefused(t *testing.T) {
	p := newPair(t)
	forgetIdentity(t, p.Backends, true, true)

	// Upgraded, but started on an empty bucket: the files it looks for
	// are not there.
	empty := Backends{Database: p.Database, BlobStore: backendtest.NewBucket(t)}
	dir := t.TempDir()
	before := snapshot(t, dir, empty)
	_, err := OpenWith(t.Context(), dir, empty)
	wantRefused(t, err, "only 0 of 6", empty.BlobStore, RedactedDatabase(p.Database))
	if after := snapshot(t, dir, empty); !reflect.DeepEqual(before, after) {
		t.Errorf("the refused node changed its pair:\nbefore %v\nafter  %v", before, after)
	}

	// On its own bucket it adopts an id, kept from then on.
	s := openNode(t, p.Backends)
	id := identityOf(t, s)
	s.Close()
	if again := identityOf(t, openNode(t, p.Backends)); again != id {
		t.Errorf("the id changed across a restart: %s, then %s", id, again)
	}
	// Now marked, the empty bucket is refused for lacking the marker.
	_, err = OpenWith(t.Context(), t.TempDir(), empty)
	wantRefused(t, err, "has no larder marker", id)
}

func TestAnIDWrittenToTheStoreButNeverRecordedIsAdoptedByItsDatabase(t *testing.T) {
	// A node that stopped between writing the marker and committing the
	// row: the marker's id is this pair's.
	p := newPair(t)
	forgetIdentity(t, p.Backends, true, false)
	if got := identityOf(t, openNode(t, p.Backends)); got != p.id {
		t.Errorf("the pair recorded %s; want the marker's %s", got, p.id)
	}
}

func TestANewDatabaseBesideAnotherPairsBucketIsRefusedUntilAdopted(t *testing.T) {
	p := newPair(t)
	fresh := Backends{Database: backendtest.NewDatabase(t), BlobStore: p.BlobStore}
	_, err := OpenWith(t.Context(), t.TempDir(), fresh)
	wantRefused(t, err, "is new", p.id, p.BlobStore)

	id, err := AdoptBlobStore(t.Context(), t.TempDir(), fresh)
	if err != nil || id == p.id {
		t.Fatalf("AdoptBlobStore = %s, %v; want a new id for the new database", id, err)
	}
	if got := identityOf(t, openNode(t, fresh)); got != id {
		t.Errorf("after adopting, the pair is %s; want %s", got, id)
	}
	// The old database is now the one refused.
	_, err = OpenWith(t.Context(), t.TempDir(), p.Backends)
	wantRefused(t, err, "never used together", id, p.id)
}

func TestTheEmbeddedDefaultKeepsNoMarkerAndSQLiteBesideABucketGetsOne(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	hold(t, s, npmTarball("lodash", "4.17.21"), "bytes", at(0))
	s.Close()
	if _, err := os.Stat(filepath.Join(dir, "blobs", markerName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the default data folder got a marker: %v", err)
	}
	// Its blobs lost (a disk replaced): the default still opens, as before.
	if err := os.RemoveAll(filepath.Join(dir, "blobs")); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(t.Context(), dir); err != nil {
		t.Fatalf("the default data folder without its blobs: %v; want it opened, verify repairs it", err)
	}
	s.Close()

	sq := openNode(t, Backends{BlobStore: newBlobStoreURL(t)})
	identityOf(t, sq)
}

func TestAnImportIntoANewPairGivesItAnIDAndItsNodesStart(t *testing.T) {
	src := seed(t)
	var buf bytes.Buffer
	if _, err := src.Export(t.Context(), &buf, ExportOptions{}); err != nil {
		t.Fatalf("Export: %v", err)
	}
	b := Backends{Database: backendtest.NewDatabase(t), BlobStore: newBlobStoreURL(t)}
	dst := openNode(t, b)
	importArchive(t, dst, buf.Bytes())
	id := identityOf(t, dst)
	dst.Close()
	node := openNode(t, b)
	if identityOf(t, node) != id {
		t.Error("the id changed after the import")
	}
	wantSame(t, "held artifacts", rows(t, node, heldArtifact), rows(t, src.Store, heldArtifact))
}

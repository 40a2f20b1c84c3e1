package e2e

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/larder-mirror/larder/npm/npmtest"
)

// consistent fails unless every row that points at a blob finds it whole,
// and no write in progress survived; with wantSome, unless something was
// stored at all (a crash in the first round, on a busy machine, may come
// before anything is).
func (l *larder) consistent(t *testing.T, wantSome bool) {
	t.Helper()
	if files := l.blobFiles("tmp"); len(files) != 0 {
		t.Errorf("partial files: %v", files)
	}
	db := l.db()
	// A small document's body is in the database, written with its row;
	// every other row must find its blob file whole.
	rows, err := db.Query(`SELECT r.sha256, r.size, b.body FROM (
			SELECT sha256, size FROM artifacts WHERE sha256 IS NOT NULL
			UNION ALL SELECT body_sha256, body_size FROM documents) AS r
		LEFT JOIN document_bodies AS b ON b.sha256 = r.sha256`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var sum string
		var size int64
		var inline []byte
		if err := rows.Scan(&sum, &size, &inline); err != nil {
			t.Fatal(err)
		}
		n++
		if inline != nil {
			if got := fmt.Sprintf("%x", sha256.Sum256(inline)); got != sum || int64(len(inline)) != size {
				t.Errorf("a row points at body %s (%d bytes); the database holds %d bytes hashing to %s", sum, size, len(inline), got)
			}
			continue
		}
		fi, err := os.Stat(filepath.Join(l.dir, "blobs", "sha256", sum[:2], sum))
		if err != nil || fi.Size() != size {
			t.Errorf("a row points at blob %s (%d bytes): %v", sum, size, err)
		}
	}
	if wantSome && n == 0 {
		t.Error("nothing was stored at all")
	}
}

// A loop of kill -9 while larder writes: after each restart there is no
// partial blob and no row pointing at a missing one, and what was cut off is
// fetched whole on the next request.
func TestKill9InALoopLeavesNoPartialBlobAndNoDanglingRow(t *testing.T) {
	up := npmtest.New()
	defer up.Close()
	const rounds = 5
	for i := range rounds {
		big := make([]byte, 8<<20)
		for j := range big {
			big[j] = byte(j*i + j>>9)
		}
		up.PublishTarball(fmt.Sprintf("big-%d", i), "1.0.0", big, nil)
		for j := range 20 {
			up.Publish(fmt.Sprintf("small-%d-%d", i, j), "1.0.0", nil)
		}
	}
	slow := newTrickleProxy(t, up.URL, 512<<10, 10*time.Millisecond)
	l := startLarder(t, npmThroughRelay(slow.URL, up, ""))

	for i := range rounds {
		ctx, cancel := context.WithCancel(context.Background())
		go http.DefaultClient.Do(mustRequest(ctx, l.URL+fmt.Sprintf("/npm/big-%d/-/big-%d-1.0.0.tgz", i, i)))
		for j := range 20 {
			go http.DefaultClient.Do(mustRequest(ctx, l.URL+fmt.Sprintf("/npm/small-%d-%d/-/small-%d-%d-1.0.0.tgz", i, j, i, j)))
		}
		time.Sleep(time.Duration(150+i*120) * time.Millisecond)
		l.kill9()
		cancel()
		l.start()
		l.consistent(t, false)
	}
	for i := range rounds {
		_, body := l.get(t, fmt.Sprintf("/npm/big-%d/-/big-%d-1.0.0.tgz", i, i))
		if len(body) != 8<<20 {
			t.Errorf("big-%d after the crashes: %d bytes", i, len(body))
		}
	}
	// A client is answered once the bytes pass their check; the blob's
	// fsync, rename and row follow.
	for i := range rounds {
		if l.heldSHA256("npm", fmt.Sprintf("big-%d/-/big-%d-1.0.0.tgz", i, i)) == "" {
			t.Errorf("big-%d is not held after it was served", i)
		}
	}
	l.consistent(t, true)
}

func mustRequest(ctx context.Context, u string) *http.Request {
	r, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	return r
}

// A long reader holding the database (a backup, a curious sqlite3 shell)
// does not stop larder from fetching and recording.
func TestALongReaderDoesNotBlockLarder(t *testing.T) {
	up := npmtest.New()
	defer up.Close()
	up.Publish("leaf", "1.0.0", nil)
	up.Publish("other", "1.0.0", nil)
	l := startLarder(t, npmConfig(up, ""))
	l.get(t, "/npm/leaf")
	tx, err := l.db().Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRow(`SELECT COUNT(*) FROM documents`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for _, p := range []string{"/npm/other", "/npm/other/-/other-1.0.0.tgz", "/npm/leaf/-/leaf-1.0.0.tgz"} {
		if resp, _ := l.get(t, p); resp.StatusCode != 200 {
			t.Errorf("%s with a reader holding the database: %d", p, resp.StatusCode)
		}
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("requests waited %v on the reader", d)
	}
	if l.heldSHA256("npm", "other/-/other-1.0.0.tgz") == "" {
		t.Error("the tarball was not recorded while the reader held the database")
	}
}

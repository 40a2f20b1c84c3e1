package storage_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/larder-mirror/larder/storage"
	"github.com/larder-mirror/larder/storage/backendtest"
	"github.com/larder-mirror/larder/storage/storagetest"
)

// TestS3BlobsPassTheConformanceSuite runs the suite against a real
// SeaweedFS; each subtest has a prefix of its own in one bucket.
func TestS3BlobsPassTheConformanceSuite(t *testing.T) {
	bucket := backendtest.NewBucket(t)
	var n atomic.Int64
	storagetest.Run(t, func(t *testing.T) storage.Blobs {
		b, _ := newS3Blobs(t, withPrefix(bucket, fmt.Sprintf("suite-%d", n.Add(1))))
		return b
	})
}

// withPrefix puts prefix into an s3:// URL's path.
func withPrefix(bucketURL, prefix string) string {
	i := strings.IndexByte(bucketURL, '?')
	return bucketURL[:i] + "/" + prefix + bucketURL[i:]
}

// newS3Blobs opens the store at raw with a spool folder of the test's own
// and, when the test ends, fails it if a spooled write was left behind.
func newS3Blobs(t *testing.T, raw string) (*storage.S3Blobs, string) {
	t.Helper()
	spool := t.TempDir()
	b, err := storage.OpenS3Blobs(t.Context(), raw, spool)
	if err != nil {
		t.Fatalf("OpenS3Blobs: %v", err)
	}
	t.Cleanup(func() {
		entries, _ := os.ReadDir(spool)
		for _, e := range entries {
			t.Errorf("%s was left behind in the spool folder", e.Name())
		}
	})
	return b, spool
}

func TestAnS3WriteIsInTheBucketOnlyOnceCommitted(t *testing.T) {
	b, spool := newS3Blobs(t, backendtest.NewBucket(t))
	other, _ := newS3Blobs(t, backendtest.NewBucket(t))
	w, err := b.Create(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Cancel()
	// Large enough to be spooled to a file as it arrives, not in memory.
	half := bytes.Repeat([]byte("a tarball half arrived "), 50_000)
	w.Write(half)
	d := storage.DigestOf(half)
	if _, err := b.Stat(t.Context(), d); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("before Commit, Stat = %v; want ErrNotFound", err)
	}
	if entries, _ := os.ReadDir(spool); len(entries) != 1 {
		t.Errorf("the write in progress is not spooled in this node's folder: %v", entries)
	}
	if _, _, err := w.Commit(t.Context(), d); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if n, err := b.Stat(t.Context(), d); err != nil || n != int64(len(half)) {
		t.Errorf("after Commit, Stat = %d, %v; want %d", n, err, len(half))
	}
	if _, err := other.Stat(t.Context(), d); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("another bucket sees the blob: %v", err)
	}
}

func TestAQuarantinedS3BlobIsOutOfReach(t *testing.T) {
	b, _ := newS3Blobs(t, backendtest.NewBucket(t))
	w, _ := b.Create(t.Context())
	w.Write([]byte("bytes verify found wrong"))
	d, _, err := w.Commit(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	where, err := b.Quarantine(t.Context(), d)
	if err != nil || !strings.Contains(where, "/quarantine/"+string(d)) {
		t.Fatalf("Quarantine = %q, %v", where, err)
	}
	if _, _, err := b.Open(t.Context(), d); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Open after Quarantine = %v; want ErrNotFound", err)
	}
	b.Walk(t.Context(), func(got storage.Digest, _ int64) error {
		t.Errorf("Walk lists the quarantined %s", got)
		return nil
	})
	if _, err := b.Quarantine(t.Context(), d); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("a second Quarantine = %v; want ErrNotFound", err)
	}
}

func TestParseS3URLExplainsWhatIsWrong(t *testing.T) {
	good, err := storage.ParseS3URL("s3://larder-blobs/prod?endpoint=https://s3.internal:9000&region=eu-west-1")
	if err != nil || good.Bucket != "larder-blobs" || good.Prefix != "prod/" || good.Endpoint.Host != "s3.internal:9000" || good.Region != "eu-west-1" {
		t.Errorf("ParseS3URL = %+v, %v", good, err)
	}
	aws, err := storage.ParseS3URL("s3://b")
	if err != nil || aws.Endpoint.String() != "https://s3.amazonaws.com" || aws.Prefix != "" {
		t.Errorf("without an endpoint: %+v, %v; want AWS S3", aws, err)
	}
	for raw, want := range map[string]string{
		"http://bucket":                        "want s3://BUCKET",
		"s3:///prefix":                         "no bucket named",
		"s3://b?endpoint=ftp://h":              "is not an http(s)://HOST[:PORT] URL",
		"s3://b?endpoint=http://h/path":        "is not an http(s)://HOST[:PORT] URL",
		"s3://b?endpont=http://h":              `unknown parameter "endpont"`,
		"s3://b?endpoint=http://h&regoin=eu-1": `unknown parameter "regoin"`,
	} {
		if _, err := storage.ParseS3URL(raw); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseS3URL(%q) = %v; want an error saying %q", raw, err, want)
		}
	}
}

func TestOpeningAMissingBucketSaysSo(t *testing.T) {
	raw := "s3://no-such-bucket?endpoint=" + backendtest.S3(t)
	_, err := storage.OpenS3Blobs(t.Context(), raw, t.TempDir())
	if err == nil || !strings.Contains(err.Error(), `bucket "no-such-bucket" does not exist`) {
		t.Errorf("OpenS3Blobs = %v; want it to say the bucket does not exist", err)
	}
}

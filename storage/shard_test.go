package storage

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/larder-mirror/larder/storage/backendtest"
)

func TestParseShardReadsKOfNAndExplainsWhatIsWrong(t *testing.T) {
	if s, err := ParseShard("2/3"); err != nil || s != (Shard{Index: 2, Count: 3}) || s.String() != "2/3" {
		t.Errorf("ParseShard(2/3) = %+v, %v", s, err)
	}
	for _, bad := range []string{"", "3", "0/3", "4/3", "1/0", "-1/2", "a/b", "1/2/3", "1/ 2"} {
		if _, err := ParseShard(bad); err == nil || !strings.Contains(err.Error(), "want K/N") {
			t.Errorf("ParseShard(%q) = %v; want an error saying what is wanted", bad, err)
		}
	}
}

func TestEveryDigestFallsInExactlyOnePartOfEachPartition(t *testing.T) {
	for _, n := range []int{1, 2, 3, 7} {
		counts := make([]int, n)
		for i := range 3000 {
			d := DigestOf([]byte(fmt.Sprint("blob ", i)))
			in := 0
			for k := 1; k <= n; k++ {
				if (Shard{Index: k, Count: n}).Holds(d) {
					in++
					counts[k-1]++
				}
			}
			if in != 1 {
				t.Fatalf("%s is in %d of %d parts; want exactly one", d, in, n)
			}
		}
		for k, c := range counts {
			// 3000 digests in n parts: each far from empty (an even
			// spread is 3000/n; 0.8 of it leaves room for chance).
			if c < 3000/n*8/10 {
				t.Errorf("part %d/%d holds %d of 3000 digests; want about %d", k+1, n, c, 3000/n)
			}
		}
	}
	if !(Shard{}).Holds(DigestOf([]byte("x"))) {
		t.Error("the zero Shard does not hold a digest; want it to be the whole store")
	}
}

// openCounter is an S3 store that records which blobs were opened.
type openCounter struct {
	*S3Blobs
	mu     sync.Mutex
	opened map[Digest]int
}

func (o *openCounter) Open(ctx context.Context, d Digest) (io.ReadSeekCloser, int64, error) {
	o.mu.Lock()
	o.opened[d]++
	o.mu.Unlock()
	return o.S3Blobs.Open(ctx, d)
}

// TestThreeNodesVerifyingTheirPartsAtOnceCheckEveryBlobOnce runs three
// stores over one PostgreSQL database and one SeaweedFS bucket, as three
// nodes would, each verifying its part 1/3, 2/3, 3/3 at the same time.
func TestThreeNodesVerifyingTheirPartsAtOnceCheckEveryBlobOnce(t *testing.T) {
	b := Backends{Database: backendtest.NewDatabase(t), BlobStore: newBlobStoreURL(t)}
	var nodes []*Store
	for range 3 {
		s, err := OpenWith(t.Context(), t.TempDir(), b)
		if err != nil {
			t.Fatalf("OpenWith: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		nodes = append(nodes, s)
	}
	var held []Artifact
	for i := range 30 {
		a := npmTarball(fmt.Sprint("pkg", i), "1.0.0")
		held = append(held, hold(t, nodes[i%3], a, fmt.Sprintf("tarball %d bytes", i), at(i)))
	}
	corrupt, lost := held[7], held[19]
	s3 := nodes[0].Blobs.(*S3Blobs)
	wrong := []byte("not the bytes of pkg7")
	if _, err := s3.client.PutObject(t.Context(), s3.bucket, s3.key(corrupt.SHA256), bytes.NewReader(wrong), int64(len(wrong)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := s3.Delete(t.Context(), lost.SHA256); err != nil {
		t.Fatal(err)
	}

	counters := make([]*openCounter, 3)
	for i, s := range nodes {
		counters[i] = &openCounter{S3Blobs: s.Blobs.(*S3Blobs), opened: map[Digest]int{}}
		s.Blobs = counters[i]
	}
	reps := make([]VerifyReport, 3)
	var wg sync.WaitGroup
	for i, s := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if reps[i], err = s.Verify(t.Context(), VerifyOptions{Shard: Shard{Index: i + 1, Count: 3}}); err != nil {
				t.Errorf("Verify part %d/3: %v", i+1, err)
			}
		}()
	}
	wg.Wait()

	opened := map[Digest]int{}
	checked := 0
	for i, c := range counters {
		for d, n := range c.opened {
			opened[d] += n
		}
		checked += reps[i].Checked
		if reps[i].Checked == 0 {
			t.Errorf("part %d/3 checked nothing: the work was not split", i+1)
		}
	}
	for _, a := range held {
		if opened[a.SHA256] != 1 {
			t.Errorf("%s's blob was read %d times by the three parts; want once", a.Path, opened[a.SHA256])
		}
	}
	if len(opened) != len(held) || checked != len(held) {
		t.Errorf("the parts read %d blobs and checked %d between them; want %d", len(opened), checked, len(held))
	}

	found := map[Digest][]int{}
	for i, r := range reps {
		for _, p := range r.Problems {
			found[p.Digest] = append(found[p.Digest], i+1)
		}
	}
	if got := slices.Sorted(maps.Keys(found)); !slices.Equal(got, slices.Sorted(slices.Values([]Digest{corrupt.SHA256, lost.SHA256}))) || len(found[corrupt.SHA256]) != 1 || len(found[lost.SHA256]) != 1 {
		t.Errorf("problems found by part: %v; want the corrupt and the lost blob, each by one part", found)
	}
	var p BlobProblem
	for _, r := range reps {
		for _, q := range r.Problems {
			if q.Digest == corrupt.SHA256 {
				p = q
			}
		}
	}
	if p.Missing || !strings.Contains(p.Quarantined, "/quarantine/"+string(corrupt.SHA256)) || len(p.Rows) != 1 || p.Rows[0].Path != corrupt.Path {
		t.Errorf("the corrupt blob: %+v; want it quarantined and its row's bytes forgotten", p)
	}
	obj, err := s3.client.GetObject(t.Context(), s3.bucket, strings.TrimPrefix(p.Quarantined, "s3://"+s3.bucket+"/"), minio.GetObjectOptions{})
	if err == nil {
		got, rerr := io.ReadAll(obj)
		obj.Close()
		if rerr != nil || !bytes.Equal(got, wrong) {
			t.Errorf("the quarantined object holds %q, %v; want the corrupt bytes", got, rerr)
		}
	} else {
		t.Errorf("reading the quarantined object: %v", err)
	}
	for _, a := range []Artifact{corrupt, lost} {
		got, err := nodes[0].Artifact(t.Context(), a.Registry, a.Path)
		if err != nil || got.Cached() {
			t.Errorf("%s after verify: %+v, %v; want its row kept and its bytes forgotten", a.Path, got, err)
		}
	}

	// A second pass over every part is clean: nothing found twice.
	for i, s := range nodes {
		r, err := s.Verify(t.Context(), VerifyOptions{Shard: Shard{Index: i + 1, Count: 3}})
		if err != nil || !r.Clean() {
			t.Errorf("second Verify of part %d/3: %+v, %v; want clean", i+1, r, err)
		}
	}
}

package storage

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func wantArtifact(t *testing.T, d *DB, want Artifact) {
	t.Helper()
	got, err := d.Artifact(t.Context(), want.Registry, want.Path)
	if err != nil {
		t.Fatalf("Artifact(%s, %s): %v", want.Registry, want.Path, err)
	}
	for _, tt := range []struct {
		name      string
		got, want time.Time
	}{
		{"FirstFetch", got.FirstFetch, want.FirstFetch},
		{"LastFetch", got.LastFetch, want.LastFetch},
		{"LastServed", got.LastServed, want.LastServed},
	} {
		if !tt.got.Equal(tt.want) {
			t.Errorf("%s = %v, want %v", tt.name, tt.got, tt.want)
		}
	}
	got.FirstFetch, got.LastFetch, got.LastServed = time.Time{}, time.Time{}, time.Time{}
	want.FirstFetch, want.LastFetch, want.LastServed = time.Time{}, time.Time{}, time.Time{}
	if got != want {
		t.Errorf("Artifact = %+v\nwant       %+v", got, want)
	}
}

var tarball = Artifact{
	Registry:    "npm",
	Path:        "lodash/-/lodash-4.17.21.tgz",
	Package:     "lodash",
	Version:     "4.17.21",
	UpstreamURL: "https://registry.npmjs.org/lodash/-/lodash-4.17.21.tgz",
	Integrity:   "sha512-v2kDEe57lecTulaDIuNTPy3Ry4gLGJ6Z1O3vE1krgXZNrsQ+LFTGHVxVjcXPs17LhbZVGedAJv8XZ1tvj5FvSg==",
}

var (
	tarballDigest = DigestOf([]byte("lodash-4.17.21.tgz"))
	tarballSize   = int64(311_000)
)

func announce(t *testing.T, d *DB, arts ...Artifact) {
	t.Helper()
	if err := d.AnnounceArtifacts(t.Context(), "npm", arts); err != nil {
		t.Fatalf("AnnounceArtifacts: %v", err)
	}
}

func commitArtifact(t *testing.T, d *DB, a Artifact, when time.Time) {
	t.Helper()
	if err := d.CommitArtifact(t.Context(), a, KeptBlob{Digest: tarballDigest, Size: tarballSize}, when); err != nil {
		t.Fatalf("CommitArtifact: %v", err)
	}
}

func TestAnAnnouncedArtifactIsKnownButNotCached(t *testing.T) {
	d := newTestDB(t)
	other := tarball
	other.Path, other.Version = "lodash/-/lodash-4.17.20.tgz", "4.17.20"
	announce(t, d, tarball, other)
	wantArtifact(t, d, tarball)
	wantArtifact(t, d, other)
	a, _ := d.Artifact(t.Context(), "npm", tarball.Path)
	if a.Cached() {
		t.Errorf("an announced artifact reports Cached")
	}
	if err := d.AnnounceArtifacts(t.Context(), "npm", nil); err != nil {
		t.Errorf("AnnounceArtifacts of nothing = %v, want nil", err)
	}
}

func TestAMissingArtifactIsNotFound(t *testing.T) {
	d := newTestDB(t)
	announce(t, d, tarball)
	for _, tt := range []struct{ name, registry, path string }{
		{"another path", "npm", "lodash/-/lodash-0.0.0.tgz"},
		{"another registry", "npm-internal", tarball.Path},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := d.Artifact(t.Context(), tt.registry, tt.path); !errors.Is(err, ErrNotFound) {
				t.Errorf("Artifact(%s, %s) = %v, want an error wrapping ErrNotFound", tt.registry, tt.path, err)
			}
		})
	}
}

func TestAnnounceArtifacts(t *testing.T) {
	moved := tarball
	moved.UpstreamURL = "https://mirror.example/lodash-4.17.21.tgz"
	moved.Integrity = "sha512-somethingelse=="

	for _, tt := range []struct {
		name   string
		before func(t *testing.T, d *DB)
		want   Artifact
	}{
		{
			name:   "updates the upstream URL and integrity of an artifact not yet stored",
			before: func(t *testing.T, d *DB) { announce(t, d, tarball) },
			want:   moved,
		},
		{
			name: "keeps the upstream URL and integrity a stored artifact was verified against",
			before: func(t *testing.T, d *DB) {
				announce(t, d, tarball)
				commitArtifact(t, d, tarball, at(0))
			},
			want: func() Artifact {
				a := tarball
				a.SHA256, a.Size, a.FirstFetch, a.LastFetch = tarballDigest, tarballSize, at(0), at(0)
				return a
			}(),
		},
		{
			name: "updates a forgotten artifact, which will be fetched again",
			before: func(t *testing.T, d *DB) {
				commitArtifact(t, d, tarball, at(0))
				if err := d.ForgetArtifact(t.Context(), "npm", tarball.Path); err != nil {
					t.Fatal(err)
				}
			},
			want: func() Artifact {
				a := moved
				a.FirstFetch, a.LastFetch = at(0), at(0)
				return a
			}(),
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := newTestDB(t)
			tt.before(t, d)
			announce(t, d, moved)
			wantArtifact(t, d, tt.want)
		})
	}
}

func TestCommitArtifactRecordsTheStoredBytes(t *testing.T) {
	d := newTestDB(t)
	announce(t, d, tarball)
	commitArtifact(t, d, tarball, at(10))
	want := tarball
	want.SHA256, want.Size, want.FirstFetch, want.LastFetch = tarballDigest, tarballSize, at(10), at(10)
	wantArtifact(t, d, want)
	if a, _ := d.Artifact(t.Context(), "npm", tarball.Path); !a.Cached() {
		t.Errorf("a committed artifact does not report Cached")
	}
	if p, ok := pkgRow(t, d, "npm", "lodash"); !ok || !p.FirstSeen.Equal(at(10)) {
		t.Errorf("package row = %+v, %v; want one first seen at %v", p, ok, at(10))
	}

	t.Run("and keeps the first fetch time on a second commit", func(t *testing.T) {
		commitArtifact(t, d, tarball, at(20))
		want.LastFetch = at(20)
		wantArtifact(t, d, want)
	})
}

func TestCommitArtifactWithoutAnAnnouncementCreatesTheRow(t *testing.T) {
	d := newTestDB(t)
	commitArtifact(t, d, tarball, at(10))
	want := tarball
	want.SHA256, want.Size, want.FirstFetch, want.LastFetch = tarballDigest, tarballSize, at(10), at(10)
	wantArtifact(t, d, want)
}

func TestForgetArtifactClearsTheDigestAndKeepsTheRest(t *testing.T) {
	d := newTestDB(t)
	commitArtifact(t, d, tarball, at(10))
	if err := d.RecordServed(t.Context(), []Served{{Registry: "npm", Package: "lodash", Path: tarball.Path, Hits: 3, At: at(11)}}); err != nil {
		t.Fatal(err)
	}
	if err := d.ForgetArtifact(t.Context(), "npm", tarball.Path); err != nil {
		t.Fatalf("ForgetArtifact: %v", err)
	}
	want := tarball
	want.FirstFetch, want.LastFetch, want.LastServed, want.Hits = at(10), at(10), at(11), 3
	wantArtifact(t, d, want)
	if err := d.ForgetArtifact(t.Context(), "npm", "no/such/path.tgz"); err != nil {
		t.Errorf("ForgetArtifact of a missing artifact = %v, want nil", err)
	}
}

func TestRecordServedCountsOnArtifactAndPackage(t *testing.T) {
	d := newTestDB(t)
	commitArtifact(t, d, tarball, at(0))
	batch := []Served{
		{Registry: "npm", Package: "lodash", Path: tarball.Path, Hits: 2, At: at(30)},
		{Registry: "npm", Package: "lodash", Hits: 5, At: at(40)},                     // the packument
		{Registry: "npm", Package: "lodash", Path: tarball.Path, Hits: 1, At: at(20)}, // an older batch entry
		{Registry: "npm", Package: "never-seen", Path: "never-seen/-/x.tgz", Hits: 1, At: at(50)},
	}
	if err := d.RecordServed(t.Context(), batch); err != nil {
		t.Fatalf("RecordServed: %v", err)
	}
	want := tarball
	want.SHA256, want.Size, want.FirstFetch, want.LastFetch = tarballDigest, tarballSize, at(0), at(0)
	want.Hits, want.LastServed = 3, at(30)
	wantArtifact(t, d, want)
	p, _ := pkgRow(t, d, "npm", "lodash")
	if p.Hits != 8 || !p.LastServed.Equal(at(40)) {
		t.Errorf("package lodash: %d hits, last served %v; want 8, %v", p.Hits, p.LastServed, at(40))
	}
	if _, ok := pkgRow(t, d, "npm", "never-seen"); ok {
		t.Errorf("RecordServed created a package row for a package never stored")
	}
	if err := d.RecordServed(t.Context(), nil); err != nil {
		t.Errorf("RecordServed of nothing = %v, want nil", err)
	}
}

func TestBlobBytesSumsStoredArtifactsAndDocuments(t *testing.T) {
	d := newTestDB(t)
	bytes := func() int64 {
		t.Helper()
		n, err := d.BlobBytes(t.Context())
		if err != nil {
			t.Fatalf("BlobBytes: %v", err)
		}
		return n
	}
	if n := bytes(); n != 0 {
		t.Errorf("BlobBytes of an empty database = %d, want 0", n)
	}
	announced := tarball
	announced.Path = "lodash/-/lodash-4.17.20.tgz"
	announce(t, d, announced)
	commitArtifact(t, d, tarball, at(0))
	if err := d.PutDocument(t.Context(), lodash, "lodash"); err != nil {
		t.Fatal(err)
	}
	if n, want := bytes(), tarballSize+lodash.Size; n != want {
		t.Errorf("BlobBytes = %d, want %d (a stored artifact and a document; an announced one counts nothing)", n, want)
	}
	if err := d.ForgetArtifact(t.Context(), "npm", tarball.Path); err != nil {
		t.Fatal(err)
	}
	if n := bytes(); n != lodash.Size {
		t.Errorf("BlobBytes after forgetting the artifact = %d, want %d", n, lodash.Size)
	}
}

// A document of many versions is announced in a few statements of many
// rows: each row is there with what it declares, whatever the count, and a
// path declared twice keeps its last declaration, as one row at a time did.
func TestADocumentOfManyVersionsAnnouncesEveryRowAndThePathsLastDeclaration(t *testing.T) {
	for _, n := range []int{1, 5, 63, 64, 65, 200} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			d := newTestDB(t)
			var arts []Artifact
			for v := range n {
				a := tarball
				a.Path = fmt.Sprintf("lodash/-/lodash-1.%d.0.tgz", v)
				a.Version = fmt.Sprintf("1.%d.0", v)
				arts = append(arts, a)
			}
			again := arts[0]
			again.Integrity = "sha512-declaredagain=="
			arts = append(arts, again)
			if err := d.AnnounceArtifacts(t.Context(), "npm", arts); err != nil {
				t.Fatal(err)
			}
			got, err := d.PackageArtifacts(t.Context(), "npm", "lodash")
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != n {
				t.Fatalf("%d rows, want %d", len(got), n)
			}
			for _, want := range arts[1:] {
				wantArtifact(t, d, want)
			}
		})
	}
}

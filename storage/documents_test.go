package storage

import (
	"database/sql"
	"errors"
	"slices"
	"testing"
	"time"
)

func wantDocument(t *testing.T, d *DB, want Document) {
	t.Helper()
	got, err := d.Document(t.Context(), want.Registry, want.Key, want.Variant)
	if err != nil {
		t.Fatalf("Document(%s, %s, %s): %v", want.Registry, want.Key, want.Variant, err)
	}
	if !got.FetchedAt.Equal(want.FetchedAt) {
		t.Errorf("FetchedAt = %v, want %v", got.FetchedAt, want.FetchedAt)
	}
	got.FetchedAt, want.FetchedAt = time.Time{}, time.Time{}
	if got != want {
		t.Errorf("Document = %+v\nwant       %+v", got, want)
	}
}

// packageRow is a catalog row, read directly: DB has no accessor for it yet.
type packageRow struct {
	FirstSeen, LastServed time.Time
	Hits                  int64
}

func pkgRow(t *testing.T, d *DB, registry, name string) (packageRow, bool) {
	t.Helper()
	var first, served, hits int64
	err := d.sql.QueryRowContext(t.Context(), `SELECT first_seen_at, last_served_at, hits FROM packages WHERE registry = ? AND name = ?`,
		registry, name).Scan(&first, &served, &hits)
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return packageRow{}, false
		}
		t.Fatal(err)
	}
	return packageRow{fromMillis(first), fromMillis(served), hits}, true
}

var lodash = Document{
	Registry:     "npm",
	Key:          "lodash",
	Variant:      "abbreviated",
	Body:         DigestOf([]byte(`{"name":"lodash"}`)),
	Size:         17,
	ContentType:  "application/vnd.npm.install-v1+json",
	ETag:         `"abc"`,
	LastModified: "Wed, 21 Oct 2015 07:28:00 GMT",
	Serial:       42,
	FetchedAt:    at(0),
}

func TestADocumentReadsBackAsItWasPut(t *testing.T) {
	d := newTestDB(t)
	if err := d.PutDocument(t.Context(), lodash, "lodash"); err != nil {
		t.Fatalf("PutDocument: %v", err)
	}
	wantDocument(t, d, lodash)
	if p, ok := pkgRow(t, d, "npm", "lodash"); !ok || !p.FirstSeen.Equal(lodash.FetchedAt) {
		t.Errorf("package row = %+v, %v; want one first seen at %v", p, ok, lodash.FetchedAt)
	}
}

func TestAMissingDocumentIsNotFound(t *testing.T) {
	d := newTestDB(t)
	if err := d.PutDocument(t.Context(), lodash, "lodash"); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ name, registry, key, variant string }{
		{"another variant", "npm", "lodash", "full"},
		{"another key", "npm", "react", "abbreviated"},
		{"another registry", "npm-internal", "lodash", "abbreviated"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := d.Document(t.Context(), tt.registry, tt.key, tt.variant)
			if !errors.Is(err, ErrNotFound) {
				t.Errorf("Document(%s, %s, %s) = %v, want an error wrapping ErrNotFound", tt.registry, tt.key, tt.variant, err)
			}
		})
	}
}

func TestPutDocumentWithoutAPackageLeavesTheCatalogAlone(t *testing.T) {
	d := newTestDB(t)
	keys := lodash
	keys.Key, keys.Variant = "-/npm/v1/keys", "json"
	if err := d.PutDocument(t.Context(), keys, ""); err != nil {
		t.Fatal(err)
	}
	wantDocument(t, d, keys)
	var n int
	if err := d.sql.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM packages`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("%d packages in the catalog, want none", n)
	}
}

func TestPutDocumentReplacesTheStoredVariant(t *testing.T) {
	d := newTestDB(t)
	if err := d.PutDocument(t.Context(), lodash, "lodash"); err != nil {
		t.Fatal(err)
	}
	full := lodash
	full.Variant, full.Body, full.Size = "full", DigestOf([]byte("full")), 4
	if err := d.PutDocument(t.Context(), full, "lodash"); err != nil {
		t.Fatal(err)
	}

	newer := lodash
	newer.Body, newer.Size = DigestOf([]byte(`{"name":"lodash","v":2}`)), 23
	newer.ETag, newer.LastModified, newer.Serial, newer.FetchedAt = `"def"`, "", 43, at(60)
	if err := d.PutDocument(t.Context(), newer, "lodash"); err != nil {
		t.Fatalf("PutDocument over a stored document: %v", err)
	}
	wantDocument(t, d, newer)
	wantDocument(t, d, full)
	var n int
	if err := d.sql.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM documents`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("%d document rows, want 2 (one per variant)", n)
	}
	if p, _ := pkgRow(t, d, "npm", "lodash"); !p.FirstSeen.Equal(lodash.FetchedAt) {
		t.Errorf("package first seen at %v, want it kept at %v", p.FirstSeen, lodash.FetchedAt)
	}
}

func TestTouchDocument(t *testing.T) {
	for _, tt := range []struct {
		name               string
		etag, lastModified string
		want               Document
	}{
		{
			name: "keeps the stored validators when the upstream sends none",
			want: Document{ETag: lodash.ETag, LastModified: lodash.LastModified},
		},
		{
			name: "replaces the ETag the upstream sent and keeps Last-Modified",
			etag: `"new"`,
			want: Document{ETag: `"new"`, LastModified: lodash.LastModified},
		},
		{
			name:         "replaces Last-Modified the upstream sent and keeps the ETag",
			lastModified: "Thu, 22 Oct 2015 07:28:00 GMT",
			want:         Document{ETag: lodash.ETag, LastModified: "Thu, 22 Oct 2015 07:28:00 GMT"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := newTestDB(t)
			if err := d.PutDocument(t.Context(), lodash, "lodash"); err != nil {
				t.Fatal(err)
			}
			if err := d.TouchDocument(t.Context(), "npm", "lodash", "abbreviated", at(300), tt.etag, tt.lastModified); err != nil {
				t.Fatalf("TouchDocument: %v", err)
			}
			want := lodash
			want.FetchedAt, want.ETag, want.LastModified = at(300), tt.want.ETag, tt.want.LastModified
			wantDocument(t, d, want)
		})
	}
}

func TestDocumentKeysListsARegistrysKeysByPrefixEachOnce(t *testing.T) {
	d := newTestDB(t)
	for _, doc := range []struct{ registry, key, variant string }{
		{"go", "sumdb/sum.golang.org/latest", "sumdb"},
		{"go", "sumdb/sum.golang.org/tile/8/0/000", "sumdb"},
		{"go", "sumdb/sum.golang.org/tile/8/0/000", "other"},
		{"go", "sumdb%/x", "sumdb"}, // a LIKE pattern would match it
		{"go", "sumdb0", "sumdb"},   // just past the keys that begin with sumdb/
		{"go", "sumdb/\u00e9", "sumdb"},
		{"go", "example.com/m", "list"},
		{"go-internal", "sumdb/sum.golang.org/latest", "sumdb"},
	} {
		row := lodash
		row.Registry, row.Key, row.Variant = doc.registry, doc.key, doc.variant
		if err := d.PutDocument(t.Context(), row, ""); err != nil {
			t.Fatal(err)
		}
	}
	got, err := d.DocumentKeys(t.Context(), "go", "sumdb/")
	if want := []string{"sumdb/sum.golang.org/latest", "sumdb/sum.golang.org/tile/8/0/000", "sumdb/\u00e9"}; err != nil || !slices.Equal(got, want) {
		t.Errorf("DocumentKeys = %q, %v; want %q", got, err, want)
	}
}

func TestPrefixEndIsTheLeastStringPastThePrefix(t *testing.T) {
	for _, c := range []struct {
		prefix, end string
		ok          bool
	}{
		{"sumdb/", "sumdb0", true},
		{"a\xff", "b", true},
		{"a\xfe\xff\xff", "a\xff", true},
		{"\xff\xff", "", false},
		{"", "", false},
	} {
		end, ok := prefixEnd(c.prefix)
		if end != c.end || ok != c.ok {
			t.Errorf("prefixEnd(%q) = %q, %v; want %q, %v", c.prefix, end, ok, c.end, c.ok)
		}
	}
}

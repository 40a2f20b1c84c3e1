package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/errgroup"
)

// The data set is one npm registry as larder leaves it after a long life:
// every package with its packument (a document whose body is a blob), its
// versions' release dates, and its tarballs held (artifact rows with a
// digest, blobs on disk), some served often and some never, a few pin
// conflicts, and a week of traffic counts. Rows go in by COPY, with the
// columns larder's own writers fill (storage.CommitArtifact, PutDocument,
// RecordServed, RecordReleases); every count in packages agrees with the
// artifacts, as CommitArtifact keeps it.

const registry = "npm"

// syllables make names that a substring search can find in many packages,
// or in few.
var syllables = []string{
	"ab", "ar", "ba", "be", "ca", "co", "da", "de", "el", "en", "fa", "fo", "ga", "ge", "ha", "he",
	"in", "jo", "ka", "ki", "la", "lo", "ma", "mi", "na", "no", "or", "pa", "pe", "qu", "ra", "re",
	"sa", "se", "ta", "to", "ul", "un", "va", "ve", "wa", "we", "xa", "yo", "za", "zu",
}

func packageName(i int) string {
	n := len(syllables)
	return syllables[i%n] + syllables[(i/n)%n] + "-" + syllables[(i/n/n)%n] + "-" + strconv.Itoa(i)
}

// genPackage is everything the data set holds for one package.
type genPackage struct {
	name               string
	firstSeen, served  int64 // Unix ms; served 0: never
	hits, files, bytes int64
	doc                genBlob
	docFetched         int64
	artifacts          []genArtifact
}

type genArtifact struct {
	path, version string
	blob          genBlob
	fetched       int64
	served, hits  int64
	published     int64
}

type genBlob struct {
	digest string
	body   []byte
	mtime  time.Time
}

func blobOf(body []byte, mtime time.Time) genBlob {
	sum := sha256.Sum256(body)
	return genBlob{digest: hex.EncodeToString(sum[:]), body: body, mtime: mtime}
}

// makePackage derives package i from its number alone, so that the data
// set is the same on every run.
func makePackage(i, artifacts int, now time.Time) genPackage {
	rng := rand.New(rand.NewPCG(uint64(i), 0x1a7de7))
	day := int64(24 * time.Hour / time.Millisecond)
	nowMs := now.UnixMilli()
	p := genPackage{name: packageName(i)}
	// Fetched over the last 180 days; 3 packages in 10 never served since.
	p.firstSeen = nowMs - 2*day - rng.Int64N(178*day)
	for k := range artifacts {
		a := genArtifact{version: fmt.Sprintf("1.%d.%d", k/10, k%10)}
		a.path = p.name + "/-/" + p.name + "-" + a.version + ".tgz"
		a.fetched = p.firstSeen + rng.Int64N(nowMs-2*day-p.firstSeen+1)
		a.published = a.fetched - rng.Int64N(400*day)
		if rng.IntN(10) >= 3 {
			a.served = a.fetched + rng.Int64N(nowMs-a.fetched)
			a.hits = 1 + rng.Int64N(500)
		}
		// Small tarballs: the bytes hashed are not what is measured, the
		// number of blobs and rows is.
		size := 200 + rng.IntN(1800)
		body := make([]byte, size)
		copy(body, "larder scale "+a.path+"\n")
		for j := len(a.path) + 14; j < size; j++ {
			body[j] = byte('a' + rng.IntN(26))
		}
		a.blob = blobOf(body, time.UnixMilli(a.fetched))
		p.files++
		p.bytes += int64(size)
		p.hits += a.hits
		p.served = max(p.served, a.served)
		p.artifacts = append(p.artifacts, a)
	}
	p.docFetched = nowMs - rng.Int64N(day)
	doc := fmt.Sprintf(`{"name":%q,"dist-tags":{"latest":%q},"versions":{`, p.name, p.artifacts[len(p.artifacts)-1].version)
	for k, a := range p.artifacts {
		if k > 0 {
			doc += ","
		}
		doc += fmt.Sprintf(`%q:{"name":%q,"version":%q,"dist":{"tarball":"https://registry.npmjs.org/%s","integrity":%q}}`,
			a.version, p.name, a.version, a.path, integrity(a.blob.digest))
	}
	doc += "}}"
	p.doc = blobOf([]byte(doc), time.UnixMilli(p.docFetched))
	return p
}

// integrity is the SRI string npm declares, from a hex SHA-256.
func integrity(digest string) string {
	b, _ := hex.DecodeString(digest)
	return "sha256-" + base64.StdEncoding.EncodeToString(b)
}

// blobWriter writes blobs into a folder store's layout (storage.FSBlobs:
// sha256/ab/abcdef…) with the modification time a commit at their fetch
// would have left.
type blobWriter struct {
	root string
	once sync.Once
}

func (w *blobWriter) write(b genBlob) error {
	w.once.Do(func() {
		for i := range 256 {
			os.MkdirAll(filepath.Join(w.root, "sha256", fmt.Sprintf("%02x", i)), 0o755)
		}
	})
	p := filepath.Join(w.root, "sha256", b.digest[:2], b.digest)
	if err := os.WriteFile(p, b.body, 0o644); err != nil {
		return err
	}
	return os.Chtimes(p, b.mtime, b.mtime)
}

// generated is what generate wrote.
type generated struct {
	packages, artifacts, blobs int
	bytes                      int64 // of the blobs rows point at
}

// generate fills the database at dbURL (migrated already) and the blob
// folder root with n packages of per artifacts each.
func generate(ctx context.Context, dbURL, root string, n, per int, now time.Time) (generated, error) {
	var out generated
	if err := fill(ctx, dbURL, root, n, per, now, &out); err != nil {
		return out, err
	}
	return out, analyze(ctx, dbURL)
}

func fill(ctx context.Context, dbURL, root string, n, per int, now time.Time, out *generated) error {
	g, ctx := errgroup.WithContext(ctx)
	tables := []struct {
		name string
		cols []string
	}{
		{"packages", []string{"registry", "name", "first_seen_at", "last_served_at", "hits", "files", "bytes"}},
		{"documents", []string{"registry", "doc_key", "variant", "body_sha256", "body_size", "content_type", "etag", "fetched_at"}},
		{"artifacts", []string{"registry", "path", "package", "version", "upstream_url", "integrity", "sha256", "size",
			"first_fetched_at", "last_fetched_at", "last_served_at", "hits"}},
		{"releases", []string{"registry", "package", "release", "version", "published_at", "first_seen_at"}},
		{"pin_conflicts", []string{"registry", "path", "package", "pinned_integrity", "offered_integrity", "first_seen_at", "last_seen_at", "times"}},
		{"traffic", []string{"registry", "minute", "cached", "upstream"}},
	}
	rows := make([]chan []any, len(tables))
	for t, table := range tables {
		rows[t] = make(chan []any, 4096)
		g.Go(func() error {
			conn, err := pgx.Connect(ctx, dbURL)
			if err != nil {
				return err
			}
			defer conn.Close(context.Background())
			src := pgx.CopyFromFunc(func() ([]any, error) {
				select {
				case r, ok := <-rows[t]:
					if !ok {
						return nil, nil
					}
					return r, nil
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			})
			if _, err := conn.CopyFrom(ctx, pgx.Identifier{table.name}, table.cols, src); err != nil {
				return fmt.Errorf("copy into %s: %w", table.name, err)
			}
			return nil
		})
	}
	blobs := make(chan genBlob, 4096)
	w := &blobWriter{root: root}
	// Creating a file is slow on these disks (about 0.5 ms) but overlaps
	// well: many writers.
	for range 16 {
		g.Go(func() error {
			for b := range blobs {
				if err := w.write(b); err != nil {
					return err
				}
			}
			return nil
		})
	}
	g.Go(func() error {
		defer func() {
			for _, c := range rows {
				close(c)
			}
			close(blobs)
		}()
		send := func(c chan []any, r []any) error {
			select {
			case c <- r:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		sendBlob := func(b genBlob) error {
			select {
			case blobs <- b:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		for i := range n {
			p := makePackage(i, per, now)
			if err := send(rows[0], []any{registry, p.name, p.firstSeen, p.served, p.hits, p.files, p.bytes}); err != nil {
				return err
			}
			if err := send(rows[1], []any{registry, p.name, "full", p.doc.digest, int64(len(p.doc.body)), "application/json",
				`"` + p.doc.digest[:16] + `"`, p.docFetched}); err != nil {
				return err
			}
			if err := sendBlob(p.doc); err != nil {
				return err
			}
			for _, a := range p.artifacts {
				if err := send(rows[2], []any{registry, a.path, p.name, a.version, "https://registry.npmjs.org/" + a.path,
					integrity(a.blob.digest), a.blob.digest, int64(len(a.blob.body)), a.fetched, a.fetched, a.served, a.hits}); err != nil {
					return err
				}
				if err := send(rows[3], []any{registry, p.name, a.version, a.version, a.published, a.fetched}); err != nil {
					return err
				}
				if err := sendBlob(a.blob); err != nil {
					return err
				}
				out.artifacts++
				out.bytes += int64(len(a.blob.body))
			}
			if i%1000 == 999 {
				a := p.artifacts[0]
				if err := send(rows[4], []any{registry, a.path, p.name, integrity(a.blob.digest), integrity(p.doc.digest),
					a.fetched, a.fetched, int64(3)}); err != nil {
					return err
				}
			}
			out.packages++
			out.blobs += 1 + len(p.artifacts)
			out.bytes += int64(len(p.doc.body))
		}
		// A week of requests, by minute, for the registry page's charts.
		minute := now.Unix() / 60
		for m := minute - 7*24*60; m <= minute; m++ {
			if err := send(rows[5], []any{registry, m, 100 + m%50, m % 7}); err != nil {
				return err
			}
		}
		return nil
	})
	return g.Wait()
}

// analyze gives the planner the statistics autovacuum would gather soon
// after a load this size.
func analyze(ctx context.Context, dbURL string) error {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, `VACUUM ANALYZE`)
	return err
}

// writeOrphans writes k blobs no row points at, committed two days ago.
func writeOrphans(root string, k int, now time.Time) (int64, error) {
	w := &blobWriter{root: root}
	var bytes int64
	for i := range k {
		b := blobOf([]byte(fmt.Sprintf("larder scale orphan %d, a body replaced long ago\n", i)), now.Add(-48*time.Hour))
		if err := w.write(b); err != nil {
			return bytes, err
		}
		bytes += int64(len(b.body))
	}
	return bytes, nil
}

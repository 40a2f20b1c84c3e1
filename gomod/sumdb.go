package gomod

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"golang.org/x/mod/sumdb"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/larder-mirror/larder/registries"
)

// variantSumDB is the variant of every stored checksum database document.
const variantSumDB = "sumdb"

// checksumDB is one checksum database, mirrored below sumdb/<name>/ and
// asked by larder itself for the hashes it verifies downloads against.
type checksumDB struct {
	g         *Registry
	key, name string
	base      string // URL of its paths, ending in "/"
	verifiers note.Verifiers

	mu     sync.Mutex
	latest []byte // the latest signed tree head larder has verified
}

func newChecksumDB(g *Registry, cfg SumDBConfig, base string) *checksumDB {
	v, err := note.NewVerifier(cfg.Key)
	if err != nil {
		// ParseSumDB checked the key; a caller of New that did not is a bug.
		panic("gomod: checksum database key: " + err.Error())
	}
	return &checksumDB{g: g, key: cfg.Key, name: cfg.Name, base: base, verifiers: note.VerifierList(v)}
}

func (db *checksumDB) docKey(rest string) string { return "sumdb/" + db.name + "/" + rest }

// document loads a path of the database through the cache policy. A full
// tile held is served as it is: the log only grows, and a full tile's
// hashes never change.
func (db *checksumDB) document(ctx context.Context, rest string, p sumdbPath) (registries.Doc, error) {
	key := db.docKey(rest)
	if p.full {
		if d, err := db.g.up.Cached(ctx, key, variantSumDB); err == nil {
			return registries.Doc{Document: d, Status: registries.Hit}, nil
		}
	}
	return db.g.up.Document(ctx, registries.DocRequest{
		Key: key, Variant: variantSumDB, URL: db.base + rest,
		Prepare: func(body []byte, _ string) (registries.Prepared, error) {
			if err := db.check(p, rest, body); err != nil {
				return registries.Prepared{}, err
			}
			return registries.Prepared{Body: body, ContentType: contentTypeOf(p)}, nil
		},
	})
}

// widerHeld answers a partial tile larder does not hold from a wider tile
// it holds at the same place (the full one, or a partial one of a later
// tree): a tile only grows, so the narrower one is its prefix. The go
// command proves a record in the tree it came with, which may be older
// than the tree larder proved it in: offline, the tiles of that older tree
// are prefixes of those larder holds. ok is false when it holds none.
func (db *checksumDB) widerHeld(ctx context.Context, rest string, p sumdbPath) (body []byte, ok bool) {
	if p.kind != "tile" || p.full {
		return nil, false
	}
	t, err := tlog.ParseTilePath(rest)
	if err != nil || t.L < 0 {
		// A data tile (L = -1) holds records of varying length, not W
		// hashes: no cut of a wider one is it.
		return nil, false
	}
	if _, err := db.g.up.Cached(ctx, db.docKey(rest), variantSumDB); err == nil {
		return nil, false // held as it is
	}
	place := t
	place.W = 1 << uint(t.H)
	keys, err := db.g.up.Store().DB.DocumentKeys(ctx, db.g.name, db.docKey(place.Path()))
	if err != nil {
		return nil, false
	}
	for _, k := range keys {
		wider, err := tlog.ParseTilePath(strings.TrimPrefix(k, db.docKey("")))
		if err != nil || wider.H != t.H || wider.L != t.L || wider.N != t.N || wider.W <= t.W {
			continue
		}
		doc, err := db.g.up.Cached(ctx, k, variantSumDB)
		if err != nil {
			continue
		}
		b, err := db.g.up.Body(ctx, doc)
		if err != nil || len(b) < t.W*tlog.HashSize {
			continue
		}
		return b[:t.W*tlog.HashSize], true
	}
	return nil, false
}

func contentTypeOf(p sumdbPath) string {
	if p.kind == "tile" {
		return "application/octet-stream"
	}
	return "text/plain; charset=utf-8"
}

// check refuses what the database could not have sent: a tree head or a
// record's tree not signed by its key, a hash tile of the wrong size. Is
// the record in the tree, and is the tree consistent with the last one?
// The go command proves that with tiles, and so does larder for its own
// look-ups (lookup).
func (db *checksumDB) check(p sumdbPath, rest string, body []byte) error {
	switch p.kind {
	case "latest":
		_, err := note.Open(body, db.verifiers)
		return err
	case "lookup":
		_, _, tree, err := tlog.ParseRecord(body)
		if err != nil {
			return err
		}
		_, err = note.Open(tree, db.verifiers)
		return err
	case "tile":
		t, err := tlog.ParseTilePath(rest)
		if err != nil {
			return err
		}
		if t.L >= 0 && len(body) != t.W*tlog.HashSize {
			return fmt.Errorf("tile %s: %d bytes, want %d", rest, len(body), t.W*tlog.HashSize)
		}
		if len(body) == 0 {
			return fmt.Errorf("tile %s: empty", rest)
		}
	}
	return nil
}

// lookup returns the h1: hashes the database records for a version's zip
// and go.mod, verified as the go command verifies them: the record is
// proven in a tree signed by the database's key, and that tree consistent
// with the latest one larder has seen.
func (db *checksumDB) lookup(ctx context.Context, mod, version string) (zipHash, modHash string, err error) {
	ops := &clientOps{db: db, ctx: ctx}
	// A client per look-up: its caches keep errors for good, and a
	// transient failure must not stick.
	c := sumdb.NewClient(ops)
	zipLines, err := c.Lookup(mod, version)
	if err == nil {
		var modLines []string
		if modLines, err = c.Lookup(mod, version+"/go.mod"); err == nil {
			zipHash, modHash = hashIn(zipLines), hashIn(modLines)
		}
	}
	if err != nil {
		// The client flattens the errors of ReadRemote into text; the
		// first one it met says whether the database lacks the version,
		// or could not be asked.
		if remote := ops.failure(); remote != nil && !errors.Is(remote, sumdb.ErrSecurity) {
			if errors.Is(remote, registries.ErrNotFound) {
				return "", "", fmt.Errorf("%w: the checksum database %s has no record of %s@%s (a private module is served only when a private pattern of this registry matches it)",
					registries.ErrNotFound, db.name, mod, version)
			}
			return "", "", fmt.Errorf("looking %s@%s up in the checksum database %s: %w", mod, version, db.name, remote)
		}
		return "", "", &registries.UpstreamError{Upstream: db.name, Status: http.StatusBadGateway,
			Err: fmt.Errorf("the checksum database could not vouch for %s@%s: %v", mod, version, err)}
	}
	if zipHash == "" || modHash == "" {
		return "", "", &registries.UpstreamError{Upstream: db.name, Status: http.StatusBadGateway,
			Err: fmt.Errorf("the checksum database's record of %s@%s lacks its hashes", mod, version)}
	}
	return zipHash, modHash, nil
}

// hashIn reads the hash of go.sum lines ("path version h1:…").
func hashIn(lines []string) string {
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) == 3 && strings.HasPrefix(f[2], "h1:") {
			return f[2]
		}
	}
	return ""
}

// clientOps are a sumdb.Client's ways to the world: the database through
// larder's own mirror of it (so that what larder verifies with is what the
// go command will ask for), the key, and the latest tree head in memory.
type clientOps struct {
	db  *checksumDB
	ctx context.Context

	mu     sync.Mutex
	lookup error // the look-up's failure
	last   error // the last failure of any other path
}

// failure is the failure of the look-up itself, or else the last one of a
// tile (a partial tile's 404 that the client then read from the full tile
// is not the cause when a later one fails).
func (o *clientOps) failure() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.lookup != nil {
		return o.lookup
	}
	return o.last
}

func (o *clientOps) ReadRemote(path string) ([]byte, error) {
	rest := strings.TrimPrefix(path, "/")
	p, err := parseSumDBPath(rest)
	if body, ok := o.db.widerHeld(o.ctx, rest, p); err == nil && ok {
		return body, nil
	}
	if err == nil {
		var doc registries.Doc
		if doc, err = o.db.document(o.ctx, rest, p); err == nil {
			var body []byte
			if body, err = o.db.g.up.Body(o.ctx, doc.Document); err == nil {
				return body, nil
			}
		}
	}
	o.mu.Lock()
	if strings.HasPrefix(rest, "lookup/") {
		o.lookup = err
	} else {
		o.last = err
	}
	o.mu.Unlock()
	return nil, err
}

func (o *clientOps) ReadConfig(file string) ([]byte, error) {
	switch file {
	case "key":
		return []byte(o.db.key), nil
	case o.db.name + "/latest":
		o.db.mu.Lock()
		defer o.db.mu.Unlock()
		return bytes.Clone(o.db.latest), nil
	}
	return nil, fmt.Errorf("no configuration file %q", file)
}

func (o *clientOps) WriteConfig(file string, old, new []byte) error {
	if file != o.db.name+"/latest" {
		return fmt.Errorf("no configuration file %q", file)
	}
	o.db.mu.Lock()
	defer o.db.mu.Unlock()
	if !bytes.Equal(o.db.latest, old) {
		return sumdb.ErrWriteConflict
	}
	o.db.latest = bytes.Clone(new)
	return nil
}

// The client's own cache is not needed: ReadRemote reads larder's.
func (o *clientOps) ReadCache(file string) ([]byte, error) {
	return nil, fmt.Errorf("no cache file %q", file)
}
func (o *clientOps) WriteCache(string, []byte) {}

func (o *clientOps) Log(msg string) {
	o.db.g.up.Env().Log.Debug("checksum database", "registry", o.db.g.name, "msg", msg)
}

func (o *clientOps) SecurityError(msg string) {
	o.db.g.up.Env().Log.Error("CHECKSUM DATABASE MISBEHAVES: refusing what it vouches for", "registry", o.db.g.name, "db", o.db.name, "msg", msg)
}

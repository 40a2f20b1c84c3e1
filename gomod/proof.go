package gomod

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/larder-mirror/larder/registries"
	"github.com/larder-mirror/larder/storage"
)

// tileHeight is the height of the checksum database's tiles, as
// golang.org/x/mod/sumdb's client and server use them.
const tileHeight = 8

// heldTiles reads a checksum database's hash tiles from stored documents,
// for proofs made without the upstream (an import's records, an export's
// choice of tiles). A partial tile not held is cut from a wider one held at
// the same place (the full one, or a partial one of a later tree), as
// larder serves it (checksumDB.widerHeld). seen records every tile
// document read.
type heldTiles struct {
	name string // the database's
	read registries.DocumentReader
	// held, when not nil, are the keys of the tiles there are: others are
	// not read.
	held map[string]bool
	// seen, when not nil, records every tile document read, and keeps it
	// for the next proof.
	seen map[string][]byte
}

func tileKey(name string, t tlog.Tile) string { return "sumdb/" + name + "/" + t.Path() }

func (h *heldTiles) Height() int { return tileHeight }

func (h *heldTiles) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		b, err := h.readTile(t)
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}

func (h *heldTiles) readTile(t tlog.Tile) ([]byte, error) {
	b, err := h.readKey(tileKey(h.name, t))
	if err == nil || !errors.Is(err, storage.ErrNotFound) {
		return b, err
	}
	for wider := t; wider.W < 1<<tileHeight; {
		wider.W++
		b, werr := h.readKey(tileKey(h.name, wider))
		if errors.Is(werr, storage.ErrNotFound) {
			continue
		}
		if werr != nil {
			return nil, werr
		}
		if len(b) < t.W*tlog.HashSize {
			return nil, fmt.Errorf("tile %s: %d bytes", wider.Path(), len(b))
		}
		return b[:t.W*tlog.HashSize], nil
	}
	return nil, err
}

func (h *heldTiles) readKey(key string) ([]byte, error) {
	if b, ok := h.seen[key]; ok {
		return b, nil
	}
	if h.held != nil && !h.held[key] {
		return nil, fmt.Errorf("%w: %s", storage.ErrNotFound, key)
	}
	b, err := h.read(key, variantSumDB)
	if err == nil && h.seen != nil {
		h.seen[key] = b
	}
	return b, err
}

func (h *heldTiles) SaveTiles([]tlog.Tile, [][]byte) {}

// signedRecord is a lookup document read: a record, its text, and the
// tree head it came with.
type signedRecord struct {
	id   int64
	text []byte
	tree tlog.Tree
}

// openRecord reads a lookup document and checks its tree head's signature
// against the database's key.
func openRecord(body []byte, verifiers note.Verifiers) (signedRecord, error) {
	id, text, treeMsg, err := tlog.ParseRecord(body)
	if err != nil {
		return signedRecord{}, err
	}
	n, err := note.Open(treeMsg, verifiers)
	if err != nil {
		return signedRecord{}, fmt.Errorf("its tree head: %w", err)
	}
	tree, err := tlog.ParseTree([]byte(n.Text))
	if err != nil {
		return signedRecord{}, err
	}
	if id < 0 || id >= tree.N {
		return signedRecord{}, fmt.Errorf("record %d is not in its tree of %d records", id, tree.N)
	}
	return signedRecord{id: id, text: text, tree: tree}, nil
}

// proveIn proves the record in tree with tiles.
func (r signedRecord) proveIn(tree tlog.Tree, tiles tlog.TileReader) error {
	if r.id >= tree.N {
		return fmt.Errorf("record %d is not in a tree of %d records", r.id, tree.N)
	}
	hashes, err := tlog.TileHashReader(tree, tiles).ReadHashes([]int64{tlog.StoredHashIndex(0, r.id)})
	if err != nil {
		return err
	}
	if hashes[0] != tlog.RecordHash(r.text) {
		return errors.New("the record is not the one its tree holds")
	}
	return nil
}

// hashes reads the record's go.sum lines for mod@version: its zip's and
// its go.mod's h1: hashes. A line of another module or version is an
// error: a record is of one.
func (r signedRecord) hashes(mod, version string) (zipHash, modHash string, err error) {
	for _, line := range strings.Split(strings.TrimSpace(string(r.text)), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 || f[0] != mod || !strings.HasPrefix(f[2], "h1:") {
			return "", "", fmt.Errorf("the record of %s@%s has the line %q", mod, version, line)
		}
		switch f[1] {
		case version:
			zipHash = f[2]
		case version + "/go.mod":
			modHash = f[2]
		default:
			return "", "", fmt.Errorf("the record of %s@%s has the line %q", mod, version, line)
		}
	}
	if zipHash == "" || modHash == "" {
		return "", "", fmt.Errorf("the record of %s@%s lacks its hashes", mod, version)
	}
	return zipHash, modHash, nil
}

package gomod

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/larder-mirror/larder/storage"
)

// maxPairwiseTrees bounds the trees whose every pair an export proves: the
// proofs grow with their square.
const maxPairwiseTrees = 16

// proofs is the kind's Proofs hook: for an export by go.sum, the checksum
// database's records of the versions it keeps and the tiles that prove
// them, so that the go command, pointed at the importing larder's mirror of
// the database, verifies them with no upstream.
//
// The go command proves each record it looks up in the newest tree it has
// seen, and each tree it sees consistent with the newest: which tiles that
// takes depends on the order of its look-ups. The export carries the tiles
// that prove each record in its own tree and in the newest tree of the
// export, and each tree consistent with the newest (with every later one,
// up to maxPairwiseTrees trees), as far as this folder holds them; a record
// not proven in its own tree is a note.
func proofs(ctx context.Context, s *storage.Store, paths []string) ([]storage.DocumentKey, []error, error) {
	versions := map[module.Version]bool{}
	for _, p := range paths {
		if rt, err := parseRoute(p); err == nil && rt.kind == routeFile && rt.ext != "info" {
			versions[module.Version{Path: rt.module, Version: rt.version}] = true
		}
	}
	byRegistry := map[string][]module.Version{}
	for _, mv := range slices.SortedFunc(maps.Keys(versions), compareVersions) {
		regs, err := s.DB.RegistriesWithPackage(ctx, mv.Path)
		if err != nil {
			return nil, nil, err
		}
		for _, r := range regs {
			byRegistry[r] = append(byRegistry[r], mv)
		}
	}
	var docs []storage.DocumentKey
	var notes []error
	proven := map[module.Version]bool{}
	for _, reg := range slices.Sorted(maps.Keys(byRegistry)) {
		keys, err := s.DB.DocumentKeys(ctx, reg, "sumdb/")
		if err != nil {
			return nil, nil, err
		}
		held := map[string]bool{}
		for _, k := range keys {
			held[k] = true
		}
		for _, name := range databases(keys) {
			got, err := proveExported(ctx, s, reg, name, held, byRegistry[reg], proven)
			if err != nil {
				return nil, nil, err
			}
			docs = append(docs, got...)
		}
	}
	for _, mv := range slices.SortedFunc(maps.Keys(versions), compareVersions) {
		if !proven[mv] {
			notes = append(notes, fmt.Errorf("%s: no checksum-database record of it proven by the tiles held here: go verifies it where it is imported only with the database itself or go.sum", mv))
		}
	}
	return docs, notes, nil
}

// databases names the checksum databases of which a registry holds
// documents.
func databases(keys []string) []string {
	seen := map[string]bool{}
	for _, k := range keys {
		if name, _, ok := strings.Cut(strings.TrimPrefix(k, "sumdb/"), "/"); ok {
			seen[name] = true
		}
	}
	return slices.Sorted(maps.Keys(seen))
}

// proveExported picks, in one registry's mirror of one database, the
// records of versions and the tiles that prove them (see proofs).
func proveExported(ctx context.Context, s *storage.Store, reg, name string, held map[string]bool, versions []module.Version, proven map[module.Version]bool) ([]storage.DocumentKey, error) {
	read := func(key, variant string) ([]byte, error) {
		d, err := s.DB.Document(ctx, reg, key, variant)
		if err != nil {
			return nil, err
		}
		rc, _, err := s.OpenBody(ctx, d.Body)
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		return io.ReadAll(io.LimitReader(rc, d.Size+1))
	}
	type heldRecord struct {
		key string
		mv  module.Version
		rec signedRecord
	}
	var recs []heldRecord
	for _, mv := range versions {
		escPath, _ := module.EscapePath(mv.Path)
		escVersion, _ := module.EscapeVersion(mv.Version)
		key := "sumdb/" + name + "/lookup/" + escPath + "@" + escVersion
		body, err := read(key, variantSumDB)
		if err != nil {
			continue // none held: a note, unless another database has it
		}
		rec, err := parseRecordUnverified(body)
		if err != nil {
			continue // the import would refuse it: leave it out
		}
		recs = append(recs, heldRecord{key: key, mv: mv, rec: rec})
	}
	if len(recs) == 0 {
		return nil, nil
	}
	tiles := &heldTiles{name: name, read: read, held: held, seen: map[string][]byte{}}
	var docs []storage.DocumentKey
	trees := map[tlog.Tree]bool{}
	for _, r := range recs {
		if err := r.rec.proveIn(r.rec.tree, tiles); err != nil {
			continue
		}
		proven[r.mv] = true
		trees[r.rec.tree] = true
		docs = append(docs, storage.DocumentKey{Registry: reg, Key: r.key})
	}
	// What the go command may also ask, depending on the order of its
	// look-ups: best effort, as far as the tiles held reach (a proof that
	// fails only leaves its tiles out).
	all := slices.SortedFunc(maps.Keys(trees), func(a, b tlog.Tree) int { return cmp.Compare(a.N, b.N) })
	newer := all
	if len(all) > maxPairwiseTrees {
		newer = all[len(all)-1:]
	}
	for _, t := range newer {
		for _, r := range recs {
			if proven[r.mv] && r.rec.tree.N < t.N {
				r.rec.proveIn(t, tiles)
			}
		}
		for _, older := range all {
			if older.N < t.N {
				tlog.ProveTree(t.N, older.N, tlog.TileHashReader(t, tiles))
			}
		}
	}
	for _, k := range slices.Sorted(maps.Keys(tiles.seen)) {
		docs = append(docs, storage.DocumentKey{Registry: reg, Key: k})
	}
	return docs, nil
}

// parseRecordUnverified reads a lookup document as openRecord does, without
// checking its signature: an export does not know the database's key, and
// the import checks it.
func parseRecordUnverified(body []byte) (signedRecord, error) {
	id, text, treeMsg, err := tlog.ParseRecord(body)
	if err != nil {
		return signedRecord{}, err
	}
	treeText, _, ok := bytes.Cut(treeMsg, []byte("\n\n"))
	if !ok {
		return signedRecord{}, fmt.Errorf("no signed tree head")
	}
	tree, err := tlog.ParseTree(append(treeText, '\n'))
	if err != nil {
		return signedRecord{}, err
	}
	return signedRecord{id: id, text: text, tree: tree}, nil
}

func compareVersions(a, b module.Version) int {
	if c := strings.Compare(a.Path, b.Path); c != 0 {
		return c
	}
	return strings.Compare(a.Version, b.Version)
}

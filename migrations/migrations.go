// Package migrations holds larder's database schema as ordered SQL files,
// embedded in the binary and applied at start by storage.
//
// Files are named NNNN_what.sql and applied in name order, each once. A file
// that has been released is never edited: a change to the schema is a new
// file. The SQL stays portable (no SQLite-only types or functions) so that a
// PostgreSQL driver is a second driver, not a rewrite.
package migrations

import (
	"embed"
	"io/fs"
	"sort"
	"strings"
)

//go:embed *.sql
var files embed.FS

// Migration is one schema step.
type Migration struct {
	Name string // file name, e.g. "0001_init.sql"; recorded once applied
	SQL  string
}

// All returns every migration in the order it must be applied.
func All() []Migration {
	entries, err := fs.ReadDir(files, ".")
	if err != nil {
		panic(err) // embedded: cannot fail at run time
	}
	var out []Migration
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		b, err := files.ReadFile(e.Name())
		if err != nil {
			panic(err)
		}
		out = append(out, Migration{Name: e.Name(), SQL: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

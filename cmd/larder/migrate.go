package main

// larder migrate: the schema step of a deploy, on its own. serve applies
// pending migrations at start-up too (so that `make run` and a single node
// need no step of their own); migrate lets a rolling deploy bring the shared
// database up to date once, before any node is replaced, and --check lets
// a script ask whether that is needed.

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/larder-mirror/larder/storage"
)

// runMigrate is `larder migrate [--check | --adopt-blob-store] [--data DIR | --config FILE]`.
func runMigrate(args []string) error { return withSignals(args, migrateCmd) }

// pendingExit is migrate --check's exit status when migrations are
// pending: apart from 1, a failure to reach or read the database.
const pendingExit = 3

// errPending is migrate --check finding migrations to apply.
type errPending struct{ n int }

func (e errPending) Error() string {
	return fmt.Sprintf("%s pending; larder migrate applies them", plural(e.n, "migration"))
}

func (e errPending) ExitCode() int { return pendingExit }

func migrateCmd(ctx context.Context, args []string, c console) error {
	const usage = "larder migrate [--check | --adopt-blob-store] [--data DIR | --config FILE]"
	f := newOpFlags("migrate", usage, c)
	check := f.Bool("check", false, fmt.Sprintf("apply nothing: list pending migrations and exit %d if there are any", pendingExit))
	adopt := f.Bool("adopt-blob-store", false, "also record the configured blob_store as the database's (its store id written as the store's marker), "+
		"for a store emptied, restored or replaced on purpose, which nodes would otherwise refuse")
	pos, err := f.parse(args)
	if err != nil {
		return flagErr(err)
	}
	if len(pos) > 0 {
		return strayArgument("migrate", pos[0])
	}
	if *check && *adopt {
		return errors.New("migrate: --check writes nothing; --adopt-blob-store writes the store's marker: give one of them")
	}
	dir, b, err := f.location()
	if err != nil {
		return err
	}
	if *adopt && !b.Shared() {
		return errors.New("migrate: --adopt-blob-store is for a shared database or blob_store; the data folder's own database and blobs/ are one pair already")
	}
	database, name := b.Database, storage.RedactedDatabase(b.Database)
	if database == "" {
		database = filepath.Join(dir, "larder.db")
		name = database
	}

	var st storage.MigrationStatus
	var applied []string
	if *check {
		st, err = storage.CheckMigrations(ctx, database)
	} else {
		if b.Database == "" {
			// A mistyped --data must not make an empty folder; serve
			// creates a data folder's database.
			if st, err = storage.CheckMigrations(ctx, database); err != nil {
				return notADataFolder(dir, err)
			}
		}
		applied, st, err = storage.Migrate(ctx, database)
	}
	if err != nil {
		return notADataFolder(dir, err)
	}
	for _, m := range applied {
		fmt.Fprintf(c.out, "applied %s\n", m)
	}
	if len(st.Unknown) > 0 {
		fmt.Fprintf(c.err, "note: the database records %s this larder does not know (a newer larder applied them): %s\n",
			plural(len(st.Unknown), "migration"), strings.Join(st.Unknown, ", "))
	}
	if !st.Current() {
		for _, m := range st.Pending {
			fmt.Fprintf(c.out, "pending %s\n", m)
		}
		return errPending{len(st.Pending)}
	}
	switch {
	case len(applied) > 0:
		fmt.Fprintf(c.out, "database %s: up to date (%s applied)\n", name, plural(len(applied), "migration"))
	default:
		fmt.Fprintf(c.out, "database %s: up to date, nothing to apply (%s recorded)\n", name, plural(len(st.Applied), "migration"))
	}
	if *adopt {
		id, err := storage.AdoptBlobStore(ctx, dir, b)
		if err != nil {
			return fmt.Errorf("migrate: --adopt-blob-store: %w", err)
		}
		where := b.BlobStore
		if where == "" {
			where = filepath.Join(dir, "blobs")
		}
		fmt.Fprintf(c.out, "blob store %s: marked as larder store %s, the database's\n", where, id)
	}
	return nil
}

// notADataFolder explains a SQLite database that is not there.
func notADataFolder(dir string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s is not a larder data folder (it has no larder.db; larder serve creates one); name one with --data DIR or --config FILE", dir)
	}
	return err
}

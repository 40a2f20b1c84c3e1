package main

// The maintenance subcommands: export, import, verify and gc. Each finds its
// data folder the way serve does (--config gives the file's data, --data
// overrides it, ./larder-data without either), does its work through
// storage, and prints what it did: results on standard output, progress and
// notes on standard error.

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/larder-mirror/larder/storage"
)

// runExport is `larder export --out FILE [--registry NAME] [--since DATE] [--lockfile FILE]... [--key FILE] [--data DIR | --config FILE]`.
func runExport(args []string) error { return withSignals(args, exportCmd) }

// runImport is `larder import FILE [--config FILE] [--data DIR] [--key FILE] [--max-manifest-size SIZE]`.
func runImport(args []string) error { return withSignals(args, importCmd) }

// runVerify is `larder verify [--shard K/N] [--data DIR | --config FILE]`; it
// fails when it found a missing or corrupt blob.
func runVerify(args []string) error { return withSignals(args, verifyCmd) }

// runGC is `larder gc --max-size SIZE [--orphan-age DURATION] [-v] [--data DIR | --config FILE]`.
func runGC(args []string) error { return withSignals(args, gcCmd) }

// console is where a subcommand writes.
type console struct {
	out io.Writer // results
	err io.Writer // progress and notes
	tty bool      // err is a terminal: progress redraws one line
}

func withSignals(args []string, cmd func(context.Context, []string, console) error) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return cmd(ctx, args, console{out: os.Stdout, err: os.Stderr, tty: isTerminal(os.Stderr)})
}

// isTerminal reports whether f is a character device (a terminal, though
// /dev/null is one too, where redrawn progress does no harm).
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// opFlags is a subcommand's flag set with --config and --data.
type opFlags struct {
	*flag.FlagSet
	config, data *string
}

func newOpFlags(name, usage string, c console) opFlags {
	fl := flag.NewFlagSet(name, flag.ContinueOnError)
	fl.SetOutput(c.err)
	fl.Usage = func() {
		fmt.Fprintf(c.err, "usage: %s\n\n", usage)
		fl.PrintDefaults()
	}
	return opFlags{
		FlagSet: fl,
		config:  fl.String("config", "", "TOML configuration file; its data folder is used"),
		data:    fl.String("data", "", "data folder (default: the configuration's, else ./larder-data)"),
	}
}

// parse parses flags that may come before, between or after the positional
// arguments, which it returns.
func (f opFlags) parse(args []string) ([]string, error) { return parseAnywhere(f.FlagSet, args) }

// parseAnywhere parses flags wherever they stand among the positional
// arguments, which it returns in order.
func parseAnywhere(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// strayArgument explains an argument a subcommand does not take.
func strayArgument(cmd, arg string) error {
	hint := ""
	if strings.HasSuffix(arg, ".toml") {
		hint = fmt.Sprintf(" (did you mean --config %s?)", arg)
	} else if st, err := os.Stat(arg); err == nil && st.IsDir() {
		hint = fmt.Sprintf(" (did you mean --data %s?)", arg)
	}
	return fmt.Errorf("%s: unexpected argument %q%s; see larder %s --help", cmd, arg, hint, cmd)
}

// location is the data folder the flags name, and where its metadata and
// blobs live: the configuration's (--config, else the defaults), with
// --data overriding the folder alone.
func (f opFlags) location() (string, storage.Backends, error) {
	if *f.data != "" && *f.config == "" {
		return *f.data, storage.Backends{}, nil
	}
	cfg, err := loadConfig(*f.config)
	if err != nil {
		return "", storage.Backends{}, err
	}
	if *f.data != "" {
		cfg.Data = *f.data
	}
	return cfg.Data, cfg.backends(), nil
}

// open opens the data folder the flags name; see openData.
func (f opFlags) open(ctx context.Context, create bool) (*storage.Store, string, error) {
	dir, b, err := f.location()
	if err != nil {
		return nil, "", err
	}
	store, err := openData(ctx, dir, b, create)
	return store, dir, err
}

// openData opens a data folder with its backends. Unless create is set it
// must hold a database already: a mistyped --data must not make an empty
// folder. (A shared database is there whatever the folder holds.)
func openData(ctx context.Context, dir string, b storage.Backends, create bool) (*storage.Store, error) {
	if !create && b.Database == "" {
		if _, err := os.Stat(filepath.Join(dir, "larder.db")); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s is not a larder data folder (it has no larder.db); name one with --data DIR or --config FILE", dir)
		} else if err != nil {
			return nil, err
		}
	}
	return storage.OpenWith(ctx, dir, b)
}

// flagErr turns -h into a quiet success: the usage is printed already.
func flagErr(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}

func exportCmd(ctx context.Context, args []string, c console) error {
	f := newOpFlags("export", "larder export --out FILE [--registry NAME] [--since DATE] [--lockfile FILE]... [--key FILE] [--data DIR | --config FILE]", c)
	keyFile := f.String("key", "", "sign the archive with the secret in FILE (HMAC-SHA256), for import --key")
	var lockfiles stringList
	f.Var(&lockfiles, "lockfile", "export only what this lockfile names (repeatable): "+strings.Join(lockfileFormats(), ", "))
	out := f.String("out", "", "archive to write (- for standard output); replaced only once it is complete")
	registry := f.String("registry", "", "export only this registry's rows (its mount name, such as npm)")
	since := f.String("since", "", "export only what was fetched on or after DATE: 2024-05-01 (local midnight) or an RFC 3339 time")
	pos, err := f.parse(args)
	if err != nil {
		return flagErr(err)
	}
	if len(pos) > 0 {
		return fmt.Errorf("export: unexpected argument %q (the archive is named with --out FILE)", pos[0])
	}
	if *out == "" {
		return errors.New("export: --out FILE is required")
	}
	key, err := readKey(*keyFile)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	filter := storage.ExportFilter{Registry: *registry}
	if *since != "" {
		if filter.Since, err = parseSince(*since); err != nil {
			return fmt.Errorf("export: %w", err)
		}
	}
	bar := newProgressBar(c, "export", "blobs")
	// write writes the archive to w, from the folder or through the
	// larder that holds it.
	var write func(w io.Writer) (storage.ExportSummary, error)
	store, dir, err := f.openReadOnly(ctx)
	switch {
	case errors.Is(err, storage.ErrInUse):
		req := exportRequest{Registry: filter.Registry, Since: filter.Since, Key: key}
		for _, file := range lockfiles {
			body, err := os.ReadFile(file)
			if err != nil {
				return fmt.Errorf("export: %w", err)
			}
			req.Lockfiles = append(req.Lockfiles, lockfileCopy{Name: file, Body: body})
		}
		inUse := err
		write = func(w io.Writer) (sum storage.ExportSummary, err error) {
			err = throughLarder(ctx, c, dir, "/export", req, bar, w, &sum, inUse)
			return sum, err
		}
	case err != nil:
		return err
	default:
		defer store.Close()
		if len(lockfiles) > 0 {
			if err := lockfileFilter(ctx, store, lockfiles, c, &filter); err != nil {
				return fmt.Errorf("export: %w", err)
			}
		}
		write = func(w io.Writer) (storage.ExportSummary, error) {
			defer bar.finish()
			return store.Export(ctx, w, storage.ExportOptions{Filter: filter, Progress: bar.update, Key: key})
		}
	}

	report := c.out
	var sum storage.ExportSummary
	if *out == "-" {
		report = c.err // the archive has standard output
		w := bufio.NewWriterSize(c.out, 1<<20)
		if sum, err = write(w); err == nil {
			err = w.Flush()
		}
	} else {
		sum, err = exportToFile(*out, write)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(report, "exported %s: %s, %s, %s; %s, %s\n", *out,
		plural(sum.Packages, "package"), plural(sum.Documents, "document"), plural(sum.Artifacts, "artifact"),
		plural(sum.Blobs, "blob"), formatBytes(sum.Bytes))
	if sum.Packages+sum.Documents+sum.Artifacts == 0 {
		fmt.Fprintf(c.err, "note: nothing in %s matched%s\n", dir, describeFilter(filter))
	}
	return nil
}

// exportToFile writes the archive beside path and renames it into place once
// it is complete, so that a failed export leaves no half archive.
func exportToFile(path string, write func(io.Writer) (storage.ExportSummary, error)) (storage.ExportSummary, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return storage.ExportSummary{}, fmt.Errorf("export: %w", err)
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	w := bufio.NewWriterSize(tmp, 1<<20)
	sum, err := write(w)
	if err != nil {
		return sum, err
	}
	for _, step := range []func() error{w.Flush, tmp.Sync, func() error { return tmp.Chmod(0o644) }, tmp.Close} {
		if err := step(); err != nil {
			return sum, fmt.Errorf("export: %s: %w", path, err)
		}
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return sum, fmt.Errorf("export: %w", err)
	}
	done = true
	return sum, nil
}

func describeFilter(f storage.ExportFilter) string {
	var parts []string
	if f.Registry != "" {
		parts = append(parts, fmt.Sprintf(" registry %q", f.Registry))
	}
	if !f.Since.IsZero() {
		parts = append(parts, " since "+f.Since.Format(time.RFC3339))
	}
	return strings.Join(parts, ",")
}

// parseSince reads --since: an RFC 3339 time, or a date meaning its
// midnight in local time.
func parseSince(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation(time.DateOnly, s, time.Local); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("--since %q: want a date (2024-05-01, local midnight) or an RFC 3339 time (2024-05-01T12:00:00Z)", s)
}

func importCmd(ctx context.Context, args []string, c console) error {
	f := newOpFlags("import", "larder import FILE [--config FILE] [--data DIR] [--key FILE] [--max-manifest-size SIZE]", c)
	keyFile := f.String("key", "", "import only an archive signed with the secret in FILE (export --key)")
	maxManifest := f.String("max-manifest-size", fmt.Sprintf("%dMiB", storage.MaxManifestSize>>20), "refuse an archive whose manifest is larger: it is read into memory whole")
	pos, err := f.parse(args)
	if err != nil {
		return flagErr(err)
	}
	if len(pos) != 1 {
		return errors.New("import: name one archive: larder import FILE (- for standard input)")
	}
	manifestLimit, err := parseSize(*maxManifest)
	if err != nil || manifestLimit <= 0 {
		return fmt.Errorf("import: --max-manifest-size %q: want a size such as 256MiB", *maxManifest)
	}
	key, err := readKey(*keyFile)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	var r io.Reader = os.Stdin
	if pos[0] != "-" {
		file, err := os.Open(pos[0])
		if err != nil {
			return fmt.Errorf("import: %w", err)
		}
		defer file.Close()
		r = file
	}
	// The configuration says which registries are mounted here and by what
	// rules: the archive's rows are held to them (--data only moves the
	// folder).
	cfg, err := loadConfig(*f.config)
	if err != nil {
		return err
	}
	if *f.data != "" {
		cfg.Data = *f.data
	}
	store, err := openData(ctx, cfg.Data, cfg.backends(), true)
	if err != nil {
		return err
	}
	defer store.Close()
	vet, closeVet, err := archiveVet(cfg, store, slog.New(slog.NewTextHandler(c.err, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	defer closeVet()

	bar := newProgressBar(c, "import", "blobs")
	sum, err := store.Import(ctx, bufio.NewReaderSize(r, 1<<20), storage.ImportOptions{Progress: bar.update, MaxManifestSize: manifestLimit, Vet: vet, Key: key})
	bar.finish()
	if err != nil {
		return fmt.Errorf("%w (nothing was imported)", err)
	}
	var conflicts, refused []storage.ImportNote
	for _, n := range sum.Notes {
		if n.Conflict {
			conflicts = append(conflicts, n)
		} else {
			refused = append(refused, n)
		}
	}
	fmt.Fprintf(c.out, "imported %s into %s: %s\n", pos[0], cfg.Data, plural(sum.Packages, "package"))
	fmt.Fprintf(c.out, "  documents: %d written, %d kept (the copy here was as new)\n", sum.DocumentsWritten, sum.DocumentsKept)
	fmt.Fprintf(c.out, "  artifacts: %d written, %d kept (held here already)\n", sum.ArtifactsWritten, sum.ArtifactsKept)
	fmt.Fprintf(c.out, "  blobs: %d verified (%s), %d new\n", sum.Blobs, formatBytes(sum.Bytes), sum.NewBlobs)
	switch {
	case sum.SignatureChecked:
		fmt.Fprintf(c.out, "  signature: checked with the key in %s\n", *keyFile)
	case sum.Signed:
		fmt.Fprintf(c.out, "  signature: present, not checked (import --key FILE checks it)\n")
	}
	if len(conflicts) > 0 {
		fmt.Fprintf(c.out, "  %s: the archive disagrees with this folder, which keeps what it has\n", plural(len(conflicts), "archive conflict"))
	}
	if len(refused) > 0 {
		fmt.Fprintf(c.out, "  %s refused\n", plural(len(refused), "row"))
	}
	for _, n := range sum.Notes {
		fmt.Fprintf(c.out, "  %s\n", n)
	}
	return nil
}

func verifyCmd(ctx context.Context, args []string, c console) error {
	f := newOpFlags("verify", "larder verify [--shard K/N] [--data DIR | --config FILE]", c)
	shardFlag := f.String("shard", "", "check only part K of N of the blobs (a partition by digest): nodes that share a database and blob store run 1/N … N/N at once to split the work")
	pos, err := f.parse(args)
	if err != nil {
		return flagErr(err)
	}
	if len(pos) > 0 {
		return fmt.Errorf("verify: unexpected argument %q", pos[0])
	}
	var shard storage.Shard
	if *shardFlag != "" {
		if shard, err = storage.ParseShard(*shardFlag); err != nil {
			return fmt.Errorf("verify: --%w", err)
		}
	}
	bar := newProgressBar(c, "verify", "blobs")
	var rep storage.VerifyReport
	store, dir, err := f.open(ctx, false)
	switch {
	case errors.Is(err, storage.ErrInUse):
		err = throughLarder(ctx, c, dir, "/verify", verifyRequest{Shard: shard}, bar, nil, &rep, err)
		if err == nil && rep.Shard != shard {
			// A larder from before --shard ignores the part asked for.
			err = fmt.Errorf("verify: the running larder checked part %s, not %s; restart it on this version of larder", rep.Shard, shard)
		}
	case err == nil:
		rep, err = store.Verify(ctx, storage.VerifyOptions{Shard: shard, Progress: bar.update})
		bar.finish()
		store.Close()
	}
	if err != nil {
		return err
	}
	for _, p := range rep.Problems {
		if p.Missing {
			fmt.Fprintf(c.out, "missing blob %s\n", p.Digest)
		} else {
			fmt.Fprintf(c.out, "corrupt blob %s: %s\n", p.Digest, p.Detail)
			if p.Quarantined != "" {
				fmt.Fprintf(c.out, "  moved to %s\n", p.Quarantined)
			}
		}
		for _, r := range p.Rows {
			what := "its bytes forgotten"
			if r.Path == "" {
				what = "deleted"
			}
			fmt.Fprintf(c.out, "  %s: %s, fetched again on next use\n", r, what)
		}
	}
	part := ""
	if shard.Count > 0 {
		part = fmt.Sprintf(" in part %s", shard)
	}
	fmt.Fprintf(c.out, "checked %s%s (%s): %d ok, %d missing, %d corrupt\n",
		plural(rep.Checked, "blob"), part, formatBytes(rep.Bytes), rep.OK, rep.Missing, rep.Corrupt)
	if rep.Unreferenced > 0 {
		fmt.Fprintf(c.out, "%s no row points at (larder gc removes them once they are an hour old)\n", plural(rep.Unreferenced, "blob"))
	}
	if !rep.Clean() {
		return fmt.Errorf("verify found %d missing and %d corrupt blobs in %s", rep.Missing, rep.Corrupt, dir)
	}
	return nil
}

func gcCmd(ctx context.Context, args []string, c console) error {
	f := newOpFlags("gc", "larder gc --max-size SIZE [--orphan-age DURATION] [-v] [--data DIR | --config FILE]", c)
	maxSize := f.String("max-size", "", "evict least recently served artifacts until blobs take at most SIZE (such as 500MB or 20GiB)")
	orphanAge := f.String("orphan-age", "1h", "remove blobs no row points at once they are this old")
	verbose := f.Bool("v", false, "list every evicted artifact")
	pos, err := f.parse(args)
	if err != nil {
		return flagErr(err)
	}
	if len(pos) > 0 {
		return fmt.Errorf("gc: unexpected argument %q", pos[0])
	}
	if *maxSize == "" {
		return errors.New("gc: --max-size SIZE is required (such as 500MB or 20GiB)")
	}
	limit, err := parseSize(*maxSize)
	if err != nil {
		return fmt.Errorf("gc: --max-size: %w", err)
	}
	if limit <= 0 {
		return fmt.Errorf("gc: --max-size %q: want more than 0 (1 evicts every artifact)", *maxSize)
	}
	age, err := parseDuration(*orphanAge)
	if err != nil || age <= 0 {
		return fmt.Errorf("gc: --orphan-age %q: want a positive duration such as 1h", *orphanAge)
	}
	bar := newProgressBar(c, "gc", "artifacts evicted")
	var rep storage.GCReport
	store, dir, err := f.open(ctx, false)
	switch {
	case errors.Is(err, storage.ErrInUse):
		err = throughLarder(ctx, c, dir, "/gc", gcRequest{MaxSize: limit, OrphanAge: age}, bar, nil, &rep, err)
	case err == nil:
		rep, err = store.GC(ctx, storage.GCOptions{MaxSize: limit, OrphanAge: age, Progress: bar.update})
		bar.finish()
		store.Close()
	}
	if err != nil {
		return err
	}
	if *verbose {
		for _, e := range rep.Evicted {
			when := "never served"
			if !e.LastServed.IsZero() {
				when = "last served " + e.LastServed.Format(time.DateTime)
			}
			kept := ""
			if !e.Deleted {
				kept = "; its blob stays, another row uses it"
			}
			fmt.Fprintf(c.out, "evicted %s/%s (%s, %s)%s\n", e.Registry, e.Path, formatBytes(e.Size), when, kept)
		}
	}
	fmt.Fprintf(c.out, "evicted %s, deleting %s: freed %s\n", plural(len(rep.Evicted), "artifact"), plural(rep.BlobsDeleted, "blob"), formatBytes(rep.BytesFreed))
	fmt.Fprintf(c.out, "removed %s no row pointed at: freed %s\n", plural(rep.Orphans, "orphan blob"), formatBytes(rep.OrphanBytes))
	fmt.Fprintf(c.out, "blobs the database points at: %s before, %s after (limit %s)\n", formatBytes(rep.Before), formatBytes(rep.After), formatBytes(limit))
	if rep.After > limit {
		fmt.Fprintf(c.err, "note: still above the limit: what is left is metadata (documents), which gc keeps, or what was fetched while it ran\n")
	}
	return nil
}

// formatBytes writes a size in binary units: 512 B, 1.5 KiB, 20.0 GiB.
func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// Command scale measures how the cost of larder's maintenance and of its
// UI's package list grows with the catalog: for each size asked for, it
// generates a data set (metadata in PostgreSQL, blobs in a local folder
// store), then times `larder verify`, `larder gc` (with nothing to collect,
// with orphans, and with a size limit that forces eviction) and the web UI's
// package list through a running `larder serve`, and prints a table with a
// column per size. See bench/README.md ("How the cost grows").
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/larder-mirror/larder/storage"
	"github.com/larder-mirror/larder/storage/backendtest"
)

type size struct{ packages, artifacts int }

func (s size) String() string { return fmt.Sprintf("%s / %s", count(s.packages), count(s.artifacts)) }

func count(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return strconv.Itoa(n/1_000_000) + "M"
	case n >= 1000 && n%1000 == 0:
		return strconv.Itoa(n/1000) + "k"
	}
	return strconv.Itoa(n)
}

func parseSizes(s string) ([]size, error) {
	var out []size
	for _, f := range strings.Split(s, ",") {
		p, a, ok := strings.Cut(strings.TrimSpace(f), ":")
		np, err1 := strconv.Atoi(p)
		na, err2 := strconv.Atoi(a)
		if !ok || err1 != nil || err2 != nil || np < 1 || na < np || na%np != 0 {
			return nil, fmt.Errorf("-sizes: %q is not PACKAGES:ARTIFACTS with ARTIFACTS a multiple of PACKAGES", f)
		}
		out = append(out, size{np, na})
	}
	return out, nil
}

func main() {
	log.SetFlags(log.Ltime)
	larder := flag.String("larder", "", "the larder binary to measure (required)")
	sizes := flag.String("sizes", "10000:100000,100000:1000000", "data sets, PACKAGES:ARTIFACTS, comma-separated, smallest first")
	evict := flag.Float64("evict", 0.01, "the share of the held bytes gc --max-size must free")
	orphans := flag.Float64("orphans", 0.01, "orphan blobs to collect, as a share of the artifacts")
	out := flag.String("out", "", "also write the table (Markdown) to this file")
	keep := flag.Bool("keep", false, "keep each data set, and PostgreSQL running, until interrupted (for a look afterwards)")
	flag.Parse()
	if *larder == "" {
		log.Fatal("-larder BIN is required (bench/scale.sh builds it)")
	}
	szs, err := parseSizes(*sizes)
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err = run(ctx, *larder, szs, *evict, *orphans, *out, *keep)
	backendtest.Stop()
	if err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, larder string, sizes []size, evict, orphans float64, out string, keep bool) error {
	admin, err := backendtest.StartPostgres()
	if err != nil {
		return fmt.Errorf("starting PostgreSQL: %w", err)
	}
	var results []sizeResult
	for _, sz := range sizes {
		log.Printf("data set %s", sz)
		r, err := measureSize(ctx, larder, admin, sz, evict, orphans, keep)
		if err != nil {
			return fmt.Errorf("data set %s: %w", sz, err)
		}
		results = append(results, r)
	}
	table := renderTable(results)
	fmt.Print(table)
	if out != "" {
		return os.WriteFile(out, []byte(table), 0o644)
	}
	return nil
}

// sizeResult is one data set's measurements, in the table's row order.
type sizeResult struct {
	size     size
	gen      generated
	orphans  int
	evicted  int
	measured []measurement
}

type measurement struct {
	what string
	took time.Duration
	rss  int64 // peak resident set of the larder process, bytes; 0: not measured
}

func measureSize(ctx context.Context, larder, admin string, sz size, evict, orphanShare float64, keep bool) (sizeResult, error) {
	res := sizeResult{size: sz}
	dbURL, err := backendtest.CreateDatabase()
	if err != nil {
		return res, err
	}
	dir, err := os.MkdirTemp("", "larder-scale-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	data := filepath.Join(dir, "data")
	st, err := storage.OpenWith(ctx, data, storage.Backends{Database: dbURL})
	if err != nil {
		return res, err
	}
	st.Close()

	start := time.Now()
	res.gen, err = generate(ctx, dbURL, filepath.Join(data, "blobs"), sz.packages, sz.artifacts/sz.packages, start)
	if err != nil {
		return res, fmt.Errorf("generating: %w", err)
	}
	log.Printf("generated %d packages, %d artifacts, %d blobs (%d bytes) in %s",
		res.gen.packages, res.gen.artifacts, res.gen.blobs, res.gen.bytes, time.Since(start).Round(time.Millisecond))

	l := &larderRun{bin: larder, dir: dir, data: data, database: dbURL}
	if err := l.writeConfig(); err != nil {
		return res, err
	}
	ui, err := l.measureUI(ctx, sz)
	if err != nil {
		return res, fmt.Errorf("the UI: %w", err)
	}

	var ms []measurement
	m, outText, err := l.command(ctx, "verify")
	if err != nil {
		return res, err
	}
	if want := fmt.Sprintf("checked %d blobs", res.gen.blobs); !strings.Contains(outText, want) || !strings.Contains(outText, "0 missing, 0 corrupt") {
		return res, fmt.Errorf("verify said %q; want %q, nothing missing or corrupt", outText, want)
	}
	ms = append(ms, m.named("`larder verify`"))

	m, outText, err = l.command(ctx, "gc", "--max-size", "1TiB")
	if err != nil {
		return res, err
	}
	if !strings.Contains(outText, "removed 0 orphan blobs") || !strings.Contains(outText, "evicted 0 artifacts") {
		return res, fmt.Errorf("gc with nothing to collect said %q", outText)
	}
	ms = append(ms, m.named("`larder gc`, nothing to collect"))

	res.orphans = max(1, int(float64(sz.artifacts)*orphanShare))
	if _, err := writeOrphans(filepath.Join(data, "blobs"), res.orphans, time.Now()); err != nil {
		return res, err
	}
	m, outText, err = l.command(ctx, "gc", "--max-size", "1TiB")
	if err != nil {
		return res, err
	}
	if want := fmt.Sprintf("removed %d orphan blobs", res.orphans); !strings.Contains(outText, want) {
		return res, fmt.Errorf("gc with orphans said %q; want %q", outText, want)
	}
	ms = append(ms, m.named(fmt.Sprintf("`larder gc`, %s%% orphan blobs", strconv.FormatFloat(orphanShare*100, 'g', -1, 64))))

	limit := res.gen.bytes - int64(float64(res.gen.bytes)*evict)
	m, outText, err = l.command(ctx, "gc", "--max-size", strconv.FormatInt(limit, 10))
	if err != nil {
		return res, err
	}
	if _, err := fmt.Sscanf(outText, "evicted %d artifacts", &res.evicted); err != nil || res.evicted == 0 {
		return res, fmt.Errorf("gc --max-size %d said %q; want some artifacts evicted", limit, outText)
	}
	ms = append(ms, m.named(fmt.Sprintf("`larder gc --max-size`, evicting %s%% of the bytes", strconv.FormatFloat(evict*100, 'g', -1, 64))))

	res.measured = append(ms, ui...)
	if keep {
		log.Printf("keeping %s (larder.toml) and %s until interrupted", dir, dbURL)
		<-ctx.Done()
	}
	return res, dropDatabase(context.WithoutCancel(ctx), admin, dbURL)
}

func (m measurement) named(what string) measurement { m.what = what; return m }

func renderTable(results []sizeResult) string {
	var b strings.Builder
	b.WriteString("| packages / artifacts |")
	for _, r := range results {
		fmt.Fprintf(&b, " %s |", r.size)
	}
	// Growth from the size before the last: the smallest's times are
	// mostly a process starting.
	prev := results[max(0, len(results)-2)]
	if len(results) > 1 {
		fmt.Fprintf(&b, " growth, last two (size ×%.0f) |", float64(last(results).size.artifacts)/float64(prev.size.artifacts))
	}
	b.WriteString("\n| --- |")
	for range results {
		b.WriteString(" ---: |")
	}
	if len(results) > 1 {
		b.WriteString(" ---: |")
	}
	b.WriteString("\n")
	for i, m := range results[0].measured {
		fmt.Fprintf(&b, "| %s |", m.what)
		for _, r := range results {
			cell := formatDuration(r.measured[i].took)
			if rss := r.measured[i].rss; rss > 0 {
				cell += fmt.Sprintf(" (%d MiB)", rss>>20)
			}
			fmt.Fprintf(&b, " %s |", cell)
		}
		if len(results) > 1 {
			fmt.Fprintf(&b, " ×%.1f |", float64(last(results).measured[i].took)/float64(prev.measured[i].took))
		}
		b.WriteString("\n")
	}
	b.WriteString("\nPeak resident memory of the larder process in brackets. ")
	for _, r := range results {
		fmt.Fprintf(&b, "%s: %d blobs, %s held, %d orphans collected, %d artifacts evicted. ",
			r.size, r.gen.blobs, mib(r.gen.bytes), r.orphans, r.evicted)
	}
	b.WriteString("\n")
	return b.String()
}

func last[T any](s []T) T { return s[len(s)-1] }

func mib(n int64) string { return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20)) }

func formatDuration(d time.Duration) string {
	switch {
	case d >= 10*time.Second:
		return fmt.Sprintf("%.0f s", d.Seconds())
	case d >= time.Second:
		return fmt.Sprintf("%.1f s", d.Seconds())
	case d >= 10*time.Millisecond:
		return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}

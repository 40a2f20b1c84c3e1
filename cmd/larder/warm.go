package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/larder-mirror/larder/registries"
	"github.com/larder-mirror/larder/storage"
)

// runWarm is `larder warm [--registry NAME] [--url URL | --data DIR |
// --config FILE] [--jobs N] FILE...`: fetch everything lockfiles name into
// the cache, so that later installs need no upstream.
func runWarm(args []string) error { return withSignals(args, warmCmd) }

// warmItem is one thing a lockfile pins, to fetch through a registry.
type warmItem struct {
	registry string
	pin      registries.Pin
}

type warmResult struct {
	label  string
	status string // "fetched", "cached", "failed"
	err    error
}

func warmCmd(ctx context.Context, args []string, c console) error {
	fl := newOpFlags("warm", "larder warm [--registry NAME] [--url URL | --data DIR | --config FILE] [--jobs N] FILE...", c)
	regName := fl.String("registry", "", "the registry to warm (default: the first of the lockfile's kind)")
	base := fl.String("url", "", "a running larder to warm, e.g. http://127.0.0.1:7070 (default: work on the data folder directly, or through the configured listen address while a larder holds it)")
	jobs := fl.Int("jobs", 8, "downloads at once")
	token := fl.String("token", os.Getenv("LARDER_TOKEN"), "a read token for a larder that requires one (default: $LARDER_TOKEN)")
	files, err := fl.parse(args)
	if err != nil {
		return flagErr(err)
	}
	if len(files) == 0 {
		fl.Usage()
		return errors.New("warm: name at least one lockfile")
	}
	if *jobs < 1 {
		return errors.New("warm: --jobs must be at least 1")
	}
	cfg, err := loadConfig(*fl.config)
	if err != nil {
		return err
	}
	if *fl.data != "" {
		cfg.Data = *fl.data
	}
	items, failed := warmItems(cfg, *regName, files)

	target := strings.TrimSuffix(*base, "/")
	if target == "" {
		var stop func()
		target, stop, err = warmTarget(ctx, cfg, c)
		if err != nil {
			return err
		}
		defer stop()
	}
	results := warmAll(ctx, target, *token, items, *jobs, c)
	results = append(failed, results...)

	var fetched, cached int
	var failures []warmResult
	for _, r := range results {
		switch r.status {
		case "fetched":
			fetched++
		case "cached":
			cached++
		default:
			failures = append(failures, r)
		}
	}
	fmt.Fprintf(c.out, "warmed %s: %d fetched, %d already cached, %d failed\n", plural(len(results), "item"), fetched, cached, len(failures))
	for _, f := range failures {
		fmt.Fprintf(c.out, "  failed %s: %v\n", f.label, f.err)
	}
	if len(failures) > 0 {
		return fmt.Errorf("warm: %s failed", plural(len(failures), "item"))
	}
	return nil
}

// warmItems reads every lockfile into items; what cannot be read is a
// failure with its reason.
func warmItems(cfg Config, regName string, files []string) ([]warmItem, []warmResult) {
	var items []warmItem
	var failed []warmResult
	for _, file := range files {
		lf, err := findLockfile(file)
		if err != nil { // the error names the file
			failed = append(failed, warmResult{label: filepath.Base(file), status: "failed", err: err})
			continue
		}
		reg, err := pickRegistry(cfg, lf.kind.Name, regName)
		if err != nil {
			failed = append(failed, warmResult{label: file, status: "failed", err: err})
			continue
		}
		pins, errs, err := lf.read()
		for _, p := range pins {
			items = append(items, warmItem{registry: reg, pin: p})
		}
		if err != nil {
			errs = append(errs, err)
		}
		for _, e := range errs {
			failed = append(failed, warmResult{label: filepath.Base(file), status: "failed", err: e})
		}
	}
	return items, failed
}

func pickRegistry(cfg Config, kind, name string) (string, error) {
	for _, r := range cfg.Registry {
		if (name == "" || r.Name == name) && r.Kind == kind {
			return r.Name, nil
		}
	}
	if name != "" {
		return "", fmt.Errorf("no %s registry named %q in the configuration", kind, name)
	}
	return "", fmt.Errorf("no %s registry in the configuration", kind)
}

// warmTarget serves the data folder in this process on a loopback port; when
// a running larder holds the folder, it warms through that larder instead.
func warmTarget(ctx context.Context, cfg Config, c console) (string, func(), error) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := newApp(ctx, cfg, quiet, newRequestLog(cfg, io.Discard))
	if errors.Is(err, storage.ErrInUse) {
		u := "http://" + cfg.Listen
		if cfg.TLSCert != "" {
			u = "https://" + cfg.Listen
		}
		fmt.Fprintf(c.err, "a running larder holds %s; warming through %s\n", cfg.Data, u)
		return u, func() {}, nil
	}
	if err != nil {
		return "", nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		a.close()
		return "", nil, err
	}
	srv := &http.Server{Handler: a.handler(), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String(), func() {
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		a.close()
	}, nil
}

// warmAll fetches the items, jobs at a time, showing progress.
func warmAll(ctx context.Context, base, token string, items []warmItem, jobs int, c console) []warmResult {
	client := &http.Client{Timeout: 30 * time.Minute, Transport: bearer{token: token, next: http.DefaultTransport}}
	results := make([]warmResult, len(items))
	work := make(chan int)
	// Progress: items done of all, bytes received; the failures are listed
	// once all are done.
	var mu sync.Mutex
	var fetched atomic.Int64 // bytes of artifacts received
	bar := newProgressBar(c, "warm", "items")
	defer bar.finish()
	done := 0
	report := func() {
		mu.Lock()
		defer mu.Unlock()
		done++
		bar.update(storage.Progress{Items: done, TotalItems: len(items), Bytes: fetched.Load()})
	}
	var wg sync.WaitGroup
	for w := 0; w < jobs; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				r := warmOne(ctx, client, base, items[i], &fetched)
				results[i] = r
				report()
			}
		}()
	}
	for i := range items {
		select {
		case work <- i:
		case <-ctx.Done():
		}
	}
	close(work)
	wg.Wait()
	for i := range results {
		if results[i].status == "" {
			results[i] = warmResult{label: items[i].pin.Label, status: "failed", err: ctx.Err()}
		}
	}
	return results
}

// warmOne fetches a pin's file, or the files of its release that its
// document lists.
func warmOne(ctx context.Context, client *http.Client, base string, it warmItem, received *atomic.Int64) warmResult {
	res := warmResult{label: it.pin.Label, status: "failed"}
	mount := base + "/" + it.registry + "/"
	rel := it.pin.Release
	if rel == nil {
		status, err := fetchChecked(ctx, client, mount+it.pin.File.Path, it.pin.File.Integrity, received)
		if err != nil {
			res.err = err
			return res
		}
		res.status = status
		return res
	}
	res.status, res.err = warmRelease(ctx, client, mount, rel, map[string]bool{it.pin.Label: true}, received)
	return res
}

// maxNeeded bounds the releases one pin needs, through every chain (a
// Maven POM's parents and imported BOMs: a large BOM imports some dozens).
const maxNeeded = 256

// warmRelease fetches the files of a release that its document lists, and
// then the releases it needs (Release.Needs), each once.
func warmRelease(ctx context.Context, client *http.Client, mount string, rel *registries.Release, seen map[string]bool, received *atomic.Int64) (string, error) {
	doc, err := fetchDocument(ctx, client, mount+rel.Document, rel.Accept)
	if err != nil {
		return "failed", fmt.Errorf("%s: %w", rel.Document, err)
	}
	files, err := rel.Files(doc)
	if err != nil {
		return "failed", err
	}
	status := "cached"
	for _, f := range files {
		st, err := fetchChecked(ctx, client, mount+f.Path, f.Integrity, received)
		if err != nil {
			return "failed", fmt.Errorf("%s: %w", f.Path, err)
		}
		if st == "fetched" {
			status = "fetched"
		}
	}
	if rel.Needs == nil {
		return status, nil
	}
	needs, err := rel.Needs(doc)
	if err != nil {
		return "failed", err
	}
	for _, p := range needs {
		if seen[p.Label] || p.Release == nil {
			continue
		}
		if len(seen) > maxNeeded {
			return "failed", fmt.Errorf("%s: more than %d releases needed", p.Label, maxNeeded)
		}
		seen[p.Label] = true
		st, err := warmRelease(ctx, client, mount, p.Release, seen, received)
		if err != nil {
			return "failed", fmt.Errorf("%s, needed: %w", p.Label, err)
		}
		if st == "fetched" {
			status = "fetched"
		}
	}
	return status, nil
}

// fetchChecked downloads one artifact through larder and checks it against
// the lockfile's integrity.
// received counts the bytes, for progress.
func fetchChecked(ctx context.Context, client *http.Client, u string, check registries.Integrity, received *atomic.Int64) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set(registries.WarmHeader, "1") // a fill, not a use: no hit
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return "", fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(msg)))
	}
	if _, err := check.Check(countingReader{r: resp.Body, n: received}); err != nil {
		return "", fmt.Errorf("the lockfile's integrity: %w", err)
	}
	if resp.Header.Get("X-Larder-Cache") == string(registries.Miss) {
		return "fetched", nil
	}
	return "cached", nil
}

// countingReader adds the bytes read to n.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	c.n.Add(int64(k))
	return k, err
}

// fetchDocument reads the document that lists a release's files.
func fetchDocument(ctx context.Context, client *http.Client, u, accept string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	req.Header.Set(registries.WarmHeader, "1")
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, errors.New(resp.Status)
	}
	return io.ReadAll(io.LimitReader(resp.Body, 256<<20))
}

// bearer sends a read token with every request, when there is one.
type bearer struct {
	token string
	next  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	if b.token != "" {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+b.token)
	}
	return b.next.RoundTrip(r)
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/larder-mirror/larder/npm"
	"github.com/larder-mirror/larder/pypi"
	"github.com/larder-mirror/larder/registries"
	"github.com/larder-mirror/larder/storage"
)

// runWarm is `larder warm [--registry NAME] [--url URL | --data DIR |
// --config FILE] [--jobs N] FILE...`: fetch everything lockfiles name into
// the cache, so that later installs need no upstream.
func runWarm(args []string) error { return withSignals(args, warmCmd) }

// warmItem is one thing to fetch through larder.
type warmItem struct {
	label    string
	registry string
	path     string               // under the registry's mount, for a known file
	check    registries.Integrity // what the lockfile says it must hash to
	python   *pypi.LockedFile     // a pin whose files are found on its page first
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
		kind := lockfileKind(file)
		reg, err := pickRegistry(cfg, kind, regName)
		if err != nil {
			failed = append(failed, warmResult{label: file, status: "failed", err: err})
			continue
		}
		var errs []error
		switch kind {
		case "npm":
			var pkgs []npm.LockedPackage
			pkgs, errs, err = npm.ReadLockfile(file)
			for _, p := range pkgs {
				items = append(items, warmItem{label: p.Name + "@" + p.Version, registry: reg, path: p.TarballPath(), check: registries.Integrity(p.Integrity)})
			}
		case "pypi":
			var locked []pypi.LockedFile
			locked, errs, err = pypi.ReadPythonLockfile(file)
			for i := range locked {
				lf := locked[i]
				label := lf.Project + "==" + lf.Version
				if lf.Filename != "" {
					label = lf.Filename
				}
				items = append(items, warmItem{label: label, registry: reg, python: &lf})
			}
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

// lockfileKind tells an npm lockfile from a Python one by its name.
func lockfileKind(path string) string {
	switch base := filepath.Base(path); {
	case base == "package-lock.json", base == "npm-shrinkwrap.json", base == "yarn.lock", base == "pnpm-lock.yaml",
		strings.HasSuffix(base, "package-lock.json"):
		return "npm"
	default:
		return "pypi"
	}
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
	var mu sync.Mutex
	done, failed := 0, 0
	last := time.Now()
	report := func(r warmResult) {
		mu.Lock()
		defer mu.Unlock()
		done++
		if r.status == "failed" {
			failed++
		}
		switch {
		case c.tty:
			if time.Since(last) > 100*time.Millisecond || done == len(items) {
				last = time.Now()
				fmt.Fprintf(c.err, "\rwarming %d/%d (%d failed)   ", done, len(items), failed)
				if done == len(items) {
					fmt.Fprintln(c.err)
				}
			}
		default:
			fmt.Fprintf(c.err, "[%d/%d] %s %s\n", done, len(items), r.status, r.label)
		}
	}
	var wg sync.WaitGroup
	for w := 0; w < jobs; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				r := warmOne(ctx, client, base, items[i])
				results[i] = r
				report(r)
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
			results[i] = warmResult{label: items[i].label, status: "failed", err: ctx.Err()}
		}
	}
	return results
}

func warmOne(ctx context.Context, client *http.Client, base string, it warmItem) warmResult {
	res := warmResult{label: it.label, status: "failed"}
	if it.python == nil {
		status, err := fetchChecked(ctx, client, base+"/"+it.registry+"/"+it.path, it.check)
		if err != nil {
			res.err = err
			return res
		}
		res.status = status
		return res
	}
	lf := *it.python
	page, err := fetchPage(ctx, client, base+"/"+it.registry+"/simple/"+url.PathEscape(pypi.Normalize(lf.Project))+"/")
	if err != nil {
		res.err = err
		return res
	}
	targets, err := pypi.WarmTargets(page, lf)
	if err != nil {
		res.err = err
		return res
	}
	res.status = "cached"
	for _, t := range targets {
		var check registries.Integrity
		if len(t.SHA256) == 1 {
			check = registries.SRIFromHex("sha256", t.SHA256[0])
		}
		status, err := fetchChecked(ctx, client, base+"/"+it.registry+"/"+t.Path, check)
		if err != nil {
			res.status, res.err = "failed", fmt.Errorf("%s: %w", t.Path, err)
			return res
		}
		if status == "fetched" {
			res.status = "fetched"
		}
	}
	return res
}

// fetchChecked downloads one artifact through larder and checks it against
// the lockfile's integrity.
func fetchChecked(ctx context.Context, client *http.Client, u string, check registries.Integrity) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return "", fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(msg)))
	}
	if _, err := check.Check(resp.Body); err != nil {
		return "", fmt.Errorf("the lockfile's integrity: %w", err)
	}
	if resp.Header.Get("X-Larder-Cache") == string(registries.Miss) {
		return "fetched", nil
	}
	return "cached", nil
}

func fetchPage(ctx context.Context, client *http.Client, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/vnd.pypi.simple.v1+json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("project page: %s", resp.Status)
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

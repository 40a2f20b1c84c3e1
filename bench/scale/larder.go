package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/larder-mirror/larder/storage/backendtest"
)

// larderRun runs the larder binary on one data set.
type larderRun struct {
	bin, dir, data, database string
	config                   string
	listen                   string
}

func (l *larderRun) writeConfig() error {
	port, err := backendtest.FreePort()
	if err != nil {
		return err
	}
	l.listen = "127.0.0.1:" + strconv.Itoa(port)
	l.config = filepath.Join(l.dir, "larder.toml")
	// The upstream is a closed loopback port: nothing here reaches out.
	cfg := fmt.Sprintf(`listen = %q
data = %q
database = %q
offline = true
log_level = "warn"
min_free_space = "0"

[[registry]]
name = %q
kind = "npm"
upstream = "http://127.0.0.1:9/"
`, l.listen, l.data, l.database, registry)
	return os.WriteFile(l.config, []byte(cfg), 0o644)
}

// command runs `larder NAME --config … ARGS…` and measures it; out is its
// standard output.
func (l *larderRun) command(ctx context.Context, name string, args ...string) (measurement, string, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Hour)
	defer cancel()
	argv := append([]string{name, "--config", l.config}, args...)
	cmd := exec.CommandContext(ctx, l.bin, argv...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	log.Printf("larder %s", strings.Join(argv, " "))
	start := time.Now()
	err := cmd.Run()
	m := measurement{took: time.Since(start)}
	if err != nil {
		return m, "", fmt.Errorf("larder %s: %v\n%s%s", strings.Join(argv, " "), err, stdout.String(), tail(stderr.String()))
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		m.rss = ru.Maxrss << 10 // KiB on Linux
	}
	log.Printf("  %s: %s", m.took.Round(time.Millisecond), strings.TrimSpace(stdout.String()))
	return m, stdout.String(), nil
}

func tail(s string) string {
	if len(s) > 2000 {
		return "…" + s[len(s)-2000:]
	}
	return s
}

// measureUI starts `larder serve` and times the package list: the first
// request after start (which reads the catalog), then the median of
// several of each page once it is read.
func (l *larderRun) measureUI(ctx context.Context, sz size) ([]measurement, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := exec.CommandContext(ctx, l.bin, "serve", "--config", l.config)
	logFile, err := os.Create(filepath.Join(l.dir, "serve.log"))
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	defer func() {
		cancel() // SIGTERM: larder stops serving and closes its database
		cmd.Wait()
	}()
	base := "http://" + l.listen
	client := &http.Client{Timeout: 5 * time.Minute}
	if err := waitHTTP(ctx, client, base+"/healthz"); err != nil {
		return nil, err
	}

	perPage := 50
	lastPage := (sz.packages + perPage - 1) / perPage
	// Searches: a syllable pair many names contain, and one name.
	common := syllables[3] + syllables[1]
	one := packageName(sz.packages / 2)
	list := "/r/" + registry
	pages := []struct {
		what, path, want string
	}{
		{"UI list, page 1", list, packageName(0)},
		{"UI list, last page", list + "?page=" + strconv.Itoa(lastPage), "/r/" + registry + "/p/"},
		{"UI list by hits, middle page", list + "?sort=hits&page=" + strconv.Itoa(lastPage/2), "/r/" + registry + "/p/"},
		{fmt.Sprintf("UI search %q (contains, page 1)", common), list + "?q=" + common, "/r/" + registry + "/p/"},
		{"UI search one name", list + "?q=" + url.QueryEscape(one), one},
		{"API list, last page", "/api/v1/registries/" + registry + "/packages?page=" + strconv.Itoa(lastPage), `"total": ` + strconv.Itoa(sz.packages)},
		{"UI overview (/)", "/", registry},
		{"UI package page", "/r/" + registry + "/p/" + one, one},
	}
	var out []measurement
	// The first request after start reads the catalog from the database.
	took, err := get(ctx, client, base+pages[0].path, pages[0].want)
	if err != nil {
		return nil, err
	}
	out = append(out, measurement{what: "UI list, page 1, first request after start", took: took})
	for _, p := range pages {
		var times []time.Duration
		for range 5 {
			took, err := get(ctx, client, base+p.path, p.want)
			if err != nil {
				return nil, err
			}
			times = append(times, took)
		}
		slices.Sort(times)
		out = append(out, measurement{what: p.what + " (median of 5)", took: times[len(times)/2]})
		log.Printf("  %s: %v", p.what, times)
	}
	if hwm := peakRSS(cmd.Process.Pid); hwm > 0 {
		out[0].rss = hwm
	}
	return out, nil
}

func get(ctx context.Context, client *http.Client, u, want string) (time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	took := time.Since(start)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(want)) {
		return 0, fmt.Errorf("GET %s: %s, %d bytes, without %q", u, resp.Status, len(body), want)
	}
	return took, nil
}

func waitHTTP(ctx context.Context, client *http.Client, u string) error {
	for range 300 {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s did not answer within 30 s", u)
}

// peakRSS is a process's VmHWM in bytes, 0 when unknown.
func peakRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

func dropDatabase(ctx context.Context, admin, dbURL string) error {
	u, err := url.Parse(dbURL)
	if err != nil {
		return err
	}
	db, err := sql.Open("pgx", admin)
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.ExecContext(ctx, `DROP DATABASE `+strings.TrimPrefix(u.Path, "/"))
	return err
}

package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// BenchmarkGoModDownload measures `go mod download` of larder's own module
// graph (its go.mod and go.sum) with an empty module cache each round:
//
//   - warm: through a larder that holds every module against nginx serving
//     the same files from disk as a static GOPROXY tree, which is larder's
//     upstream too (interleaved rounds, medians; reported as nginx's time
//     over larder's, warm-speed/nginx: the target is at least 0.9);
//   - cold, with LARDER_LIVE_GO=1: through a larder with an empty data
//     folder on the public proxy and checksum database against straight
//     from the public proxy (cold-larder/direct, reported).
//
// The static tree is made from the machine's module cache (GOPROXY=file://)
// and, for what it lacks, the public proxy. bench/go.sh runs it.
func BenchmarkGoModDownload(b *testing.B) {
	requireTool(b, "go")
	requireTool(b, "nginx")
	ours, err := os.ReadFile(filepath.Join("..", "go.mod"))
	if err != nil {
		b.Fatal(err)
	}
	ourSum, err := os.ReadFile(filepath.Join("..", "go.sum"))
	if err != nil {
		b.Fatal(err)
	}
	files := map[string]string{"go.mod": string(ours), "go.sum": string(ourSum)}
	tree := goProxyTree(b, files)
	nginxURL := startStaticServer(b, tree)

	l := startLarder(b, fmt.Sprintf(`
[[registry]]
name = "go"
kind = "go"
upstream = %q
sumdb = "off"
metadata_ttl = "1h"
`, nginxURL+"/"))
	// go checks every module against go.sum; nobody asks a database.
	viaLarder := newGoProjectWith(b, l, "off", files)
	direct := newGoProjectWith(b, l, "off", files)
	direct.env = append(direct.env, "GOPROXY="+nginxURL)
	viaLarder.mustRun("mod", "download") // fills larder

	took := map[string][]float64{}
	round := func(name string, p *goProject) {
		p.freshCacheKeepingSum()
		start := time.Now()
		p.mustRun("mod", "download")
		s := time.Since(start).Seconds()
		took[name] = append(took[name], s)
		fmt.Fprintf(os.Stderr, "go mod download: round %d, %s: %.2fs\n", len(took[name]), name, s)
	}
	live := os.Getenv("LARDER_LIVE_GO") == "1"
	var cold *larder
	var coldVia, straight *goProject
	if live {
		cold = startLarder(b, `
[[registry]]
name = "go"
kind = "go"
upstream = "https://proxy.golang.org/"
`)
		coldVia = newGoProjectWith(b, cold, "sum.golang.org "+cold.URL+"/go/sumdb/sum.golang.org", files)
		straight = newGoProjectWith(b, cold, "sum.golang.org", files)
		straight.env = append(straight.env, "GOPROXY=https://proxy.golang.org")
	}
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		// ABBA: each server first in every other round.
		if i%2 == 0 {
			round("nginx", direct)
			round("larder", viaLarder)
		} else {
			round("larder", viaLarder)
			round("nginx", direct)
		}
		if live {
			round("direct", straight)
			cold.wipe()
			round("cold-larder", coldVia)
		}
		b.StartTimer()
	}
	b.ReportMetric(median(took["nginx"]), "nginx-s")
	b.ReportMetric(median(took["nginx"])/median(took["larder"]), "warm-speed/nginx")
	if live {
		b.ReportMetric(median(took["direct"]), "direct-s")
		b.ReportMetric(median(took["cold-larder"])/median(took["direct"]), "cold-larder/direct")
	}
}

// freshCacheKeepingSum is freshCache for a project whose go.sum is its own.
func (p *goProject) freshCacheKeepingSum() {
	p.env = append(p.env, "GOMODCACHE="+p.t.TempDir())
}

// goProxyTree downloads the module graph of files' go.mod into a new module
// cache, from the machine's module cache first, and returns its
// cache/download folder: a static GOPROXY tree.
func goProxyTree(b *testing.B, files map[string]string) string {
	b.Helper()
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		b.Fatal(err)
	}
	machine := filepath.Join(strings.TrimSpace(string(out)), "cache", "download")
	dir, seed := b.TempDir(), b.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "mod", "download")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOMODCACHE="+seed, "GOFLAGS=-mod=mod", "GOSUMDB=off", "GOTOOLCHAIN=local", "GOWORK=off",
		"GOPROXY=file://"+machine+",https://proxy.golang.org")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("filling the static GOPROXY tree: %v\n%s", err, out)
	}
	tree := filepath.Join(seed, "cache", "download")
	// nginx's workers may run as another user: the module cache is
	// read-only to its owner alone.
	exec.Command("chmod", "-R", "a+rX", seed).Run()
	for d := tree; d != "/"; d = filepath.Dir(d) {
		os.Chmod(d, 0o755)
		if d == filepath.Dir(seed) {
			break
		}
	}
	return tree
}

// startStaticServer serves root with nginx on a free loopback port until
// the benchmark ends, and returns its URL.
func startStaticServer(b *testing.B, root string) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	dir := b.TempDir()
	os.Chmod(dir, 0o755)
	conf := fmt.Sprintf(`worker_processes 2;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 1024; }
http {
    default_type application/octet-stream;
    types { application/zip zip; application/json info; text/plain mod; }
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    open_file_cache max=1024 inactive=60s;
    access_log off;
    client_body_temp_path %[1]s/body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    server {
        listen %[2]s;
        root %[3]s;
    }
}
`, dir, addr, root)
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o644); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command("nginx", "-p", dir, "-c", filepath.Join(dir, "nginx.conf"), "-e", filepath.Join(dir, "error.log"), "-g", "daemon off;")
	if out, err := exec.Command("nginx", "-t", "-q", "-p", dir, "-c", filepath.Join(dir, "nginx.conf"), "-e", filepath.Join(dir, "error.log")).CombinedOutput(); err != nil {
		b.Fatalf("nginx -t: %v\n%s", err, out)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for deadline := time.Now().Add(10 * time.Second); ; {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("nginx did not start listening")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return "http://" + addr
}

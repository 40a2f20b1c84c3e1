// Command gofloor is the third server of larder's speed benchmark
// (bench/run.sh): the least a Go net/http server can do to serve the bytes
// nginx serves there. It loads every file under -root into memory and
// answers with one write of headers and body, corked as larder corks its
// responses, with no router, no log and no look-up beyond a map. What it
// reaches against nginx is the floor of a net/http server on the machine;
// what larder reaches against it is larder's own cost.
//
// It maps URLs to files as the benchmark's nginx configuration does:
// tarballs and /pypi/files/ by path; /npm/NAME to packuments/NAME.full.json
// or .abbrev.corgi by Accept; /pypi/simple/P/ to pages/P.html or .v1json
// by Accept; the .gz sibling when Accept-Encoding names gzip.
package main

import (
	"context"
	"flag"
	"io/fs"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

type file struct {
	body        []byte
	length      []string
	contentType []string
}

var types = map[string]string{
	".tgz":    "application/octet-stream",
	".whl":    "application/octet-stream",
	".json":   "application/json",
	".corgi":  "application/vnd.npm.install-v1+json",
	".html":   "text/html; charset=utf-8",
	".v1json": "application/vnd.pypi.simple.v1+json",
}

func load(root string) (map[string]*file, error) {
	files := map[string]*file{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel := "/" + filepath.ToSlash(strings.TrimPrefix(p, root+string(filepath.Separator)))
		ext := filepath.Ext(strings.TrimSuffix(rel, ".gz"))
		ct, ok := types[ext]
		if !ok {
			ct = "application/octet-stream"
		}
		files[rel] = &file{body: b, length: []string{strconv.Itoa(len(b))}, contentType: []string{ct}}
		return nil
	})
	return files, err
}

// path is the file nginx would serve for r.
func path(r *http.Request) string {
	p := r.URL.Path
	accept := r.Header.Get("Accept")
	switch {
	case strings.HasPrefix(p, "/pypi/simple/"):
		v := ".html"
		if strings.Contains(accept, "application/vnd.pypi.simple.v1+json") {
			v = ".v1json"
		}
		p = "/pages/" + strings.TrimSuffix(strings.TrimPrefix(p, "/pypi/simple/"), "/") + v
	case strings.HasPrefix(p, "/npm/") && strings.Count(p, "/") == 2:
		v := ".full.json"
		if strings.Contains(accept, "application/vnd.npm.install-v1+json") {
			v = ".abbrev.corgi"
		}
		p = "/packuments/" + strings.TrimPrefix(p, "/npm/") + v
	default:
		return p
	}
	if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		p += ".gz"
	}
	return p
}

type connKey struct{}

func cork(r *http.Request, on int) {
	if tc, ok := r.Context().Value(connKey{}).(*net.TCPConn); ok {
		if raw, err := tc.SyscallConn(); err == nil {
			raw.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_CORK, on) })
		}
	}
}

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	root := flag.String("root", "", "the benchmark's nginx root")
	flag.Parse()
	files, err := load(filepath.Clean(*root))
	if err != nil || *root == "" {
		log.Fatalf("gofloor: loading -root %q: %v", *root, err)
	}
	srv := &http.Server{
		Addr:        *listen,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context { return context.WithValue(ctx, connKey{}, c) },
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p := path(r)
			f, ok := files[p]
			if !ok {
				http.NotFound(w, r)
				return
			}
			h := w.Header()
			h["Content-Type"] = f.contentType
			h["Content-Length"] = f.length
			if strings.HasSuffix(p, ".gz") {
				h["Content-Encoding"] = []string{"gzip"}
			}
			cork(r, 1)
			w.Write(f.body)
			w.(http.Flusher).Flush()
			cork(r, 0)
		}),
	}
	log.Fatal(srv.ListenAndServe())
}

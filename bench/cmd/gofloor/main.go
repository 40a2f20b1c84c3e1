// Command gofloor is the third server of larder's speed benchmark
// (bench/run.sh): the least a Go server can do to serve the bytes nginx
// serves there, on the HTTP stack -engine names: fasthttp (larder's front
// for plain HTTP, the default) or net/http. It loads every file under -root
// into memory and answers with one write of headers and body (corked, on
// net/http, as larder corks its responses there), with no router, no log
// and no look-up beyond a map. What it reaches against nginx is the floor
// of a Go server on the machine; what larder reaches against it is
// larder's own cost.
//
// It maps URLs to files as the benchmark's nginx configuration does:
// tarballs and /pypi/files/ by path; /npm/NAME to packuments/NAME.full.json
// or .abbrev.corgi by Accept; /pypi/simple/P/ to pages/P.html or .v1json
// by Accept; the .gz sibling when Accept-Encoding names gzip and it exists
// (gzip_static). Anything else is 404. Linux only, as the benchmark.
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

	"github.com/valyala/fasthttp"
)

// file is one file of the root with its header values built once at
// start, so that a request assigns slices instead of formatting them.
type file struct {
	body        []byte
	length      []string // Content-Length
	contentType []string // by the file's own extension, as nginx's types block
}

// types is nginx's types block in bench/run.sh; default_type is
// application/octet-stream.
var types = map[string]string{
	".tgz":    "application/octet-stream",
	".json":   "application/json",
	".corgi":  "application/vnd.npm.install-v1+json",
	".html":   "text/html",
	".v1json": "application/vnd.pypi.simple.v1+json",
	".jar":    "application/java-archive",
	".sha1":   "text/plain",
	".zip":    "application/zip",
}

// Header values shared by every response that needs them; net/http only
// reads them.
var (
	gzipEncoding = []string{"gzip"}
	// nginx's add_header in the packument and page locations.
	varyDocument = []string{"Accept, Accept-Encoding"}
	// nginx's "charset utf-8" in the page location: text/html only (its
	// default charset_types), not the JSON variant.
	htmlUTF8 = []string{"text/html; charset=utf-8"}
)

// load reads every file under root, keyed by its path from root as nginx
// sees it ("/packuments/bench-big.full.json").
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
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		ct, ok := types[filepath.Ext(p)]
		if !ok {
			ct = "application/octet-stream"
		}
		files["/"+filepath.ToSlash(rel)] = &file{body: b, length: []string{strconv.Itoa(len(b))}, contentType: []string{ct}}
		return nil
	})
	return files, err
}

// negotiated says which file nginx's try_files picks for a packument or a
// PyPI page, or "" when p is neither: /npm/NAME ("^/npm/([^/]+)$") or
// /pypi/simple/P/ ("^/pypi/simple/([^/]+)/$").
func negotiated(p, accept string) string {
	if name, ok := strings.CutPrefix(p, "/npm/"); ok && name != "" && !strings.Contains(name, "/") {
		if strings.Contains(accept, "application/vnd.npm.install-v1+json") {
			return "/packuments/" + name + ".abbrev.corgi"
		}
		return "/packuments/" + name + ".full.json"
	}
	if rest, ok := strings.CutPrefix(p, "/pypi/simple/"); ok {
		project, ok := strings.CutSuffix(rest, "/")
		if !ok || project == "" || strings.Contains(project, "/") {
			return ""
		}
		if strings.Contains(accept, "application/vnd.pypi.simple.v1+json") {
			return "/pages/" + project + ".v1json"
		}
		return "/pages/" + project + ".html"
	}
	return ""
}

type connKey struct{}

// setCork sets TCP_CORK on raw's socket: while it is on, the kernel sends
// only full segments, so headers and body leave together (net/http writes
// them in two writes when the body is above its 4 KB buffer), as nginx's
// tcp_nopush and larder's front (cmd/larder/front/cork.go) does.
func setCork(raw syscall.RawConn, on int) {
	raw.Control(func(fd uintptr) {
		syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_CORK, on)
	})
}

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	root := flag.String("root", "", "the benchmark's nginx root")
	engine := flag.String("engine", "fasthttp", "fasthttp or net/http")
	flag.Parse()
	if *root == "" {
		log.Fatal("gofloor: -root is needed")
	}
	files, err := load(filepath.Clean(*root))
	if err != nil {
		log.Fatalf("gofloor: loading -root %q: %v", *root, err)
	}
	switch *engine {
	case "fasthttp":
		log.Fatal(serveFast(*listen, files))
	case "net/http":
	default:
		log.Fatalf("gofloor: -engine %q is neither fasthttp nor net/http", *engine)
	}
	srv := &http.Server{
		Addr: *listen,
		// The connection, for the handler to cork (net/http does not give
		// a handler its connection otherwise).
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, connKey{}, c)
		},
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			p := negotiated(r.URL.Path, r.Header.Get("Accept"))
			document := p != ""
			if !document {
				p = r.URL.Path
			}
			// try_files needs the plain file even when the gzip form is sent.
			f, ok := files[p]
			if !ok {
				http.NotFound(w, r)
				return
			}
			h["Content-Type"] = f.contentType
			if document {
				h["Vary"] = varyDocument
				if strings.HasSuffix(p, ".html") {
					h["Content-Type"] = htmlUTF8
				}
				if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
					// gzip_static: the .gz sibling if there is one, with the
					// plain file's type.
					if gz, ok := files[p+".gz"]; ok {
						f = gz
						h["Content-Encoding"] = gzipEncoding
					}
				}
			}
			h["Content-Length"] = f.length
			var raw syscall.RawConn
			if tc, ok := r.Context().Value(connKey{}).(*net.TCPConn); ok {
				raw, _ = tc.SyscallConn()
			}
			if raw != nil {
				setCork(raw, 1)
			}
			// Errors are the client's going away: nothing to do about them.
			w.Write(f.body)
			if raw != nil {
				// Flush pushes net/http's buffer into the corked socket;
				// uncorking then sends the last partial segment at once
				// instead of after the kernel's 200 ms.
				w.(http.Flusher).Flush()
				setCork(raw, 0)
			}
		}),
	}
	log.Fatal(srv.ListenAndServe())
}

// serveFast is the floor on fasthttp: the same answers, the headers and a
// body it does not copy written in one vectored write.
func serveFast(listen string, files map[string]*file) error {
	srv := &fasthttp.Server{
		NoDefaultServerHeader: true,
		NoDefaultContentType:  true,
		Handler: func(ctx *fasthttp.RequestCtx) {
			path := string(ctx.Path())
			accept := string(ctx.Request.Header.Peek("Accept"))
			p := negotiated(path, accept)
			document := p != ""
			if !document {
				p = path
			}
			f, ok := files[p]
			if !ok {
				ctx.Error("404 page not found", fasthttp.StatusNotFound)
				return
			}
			h := &ctx.Response.Header
			h.SetContentType(f.contentType[0])
			if document {
				h.Set("Vary", varyDocument[0])
				if strings.HasSuffix(p, ".html") {
					h.SetContentType(htmlUTF8[0])
				}
				if strings.Contains(string(ctx.Request.Header.Peek("Accept-Encoding")), "gzip") {
					if gz, ok := files[p+".gz"]; ok {
						f = gz
						h.Set("Content-Encoding", "gzip")
					}
				}
			}
			ctx.Response.SetBodyRaw(f.body)
		},
	}
	return srv.ListenAndServe(listen)
}

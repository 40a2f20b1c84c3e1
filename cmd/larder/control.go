package main

// The control socket. A running larder holds its data folder alone (see
// storage.Open), so `larder gc`, `verify` and `export` cannot open a folder
// it serves; they ask the running larder to do the work instead, over a
// Unix socket in the data folder, and show its progress as if it were
// their own.
//
// Why a socket in the data folder and not a route on the listener: the
// listener may face the network, and gc deletes. The socket is created
// 0600 by the user larder runs as: only that user and root can connect,
// those who could change the data folder by hand anyway, so it needs no
// token. The command that finds the folder in use finds the socket beside
// it.
//
// The answer to each request is a stream of frames, so that progress,
// notes, an archive's bytes and the result travel on one connection: a
// type byte, a 4-byte big-endian length, the payload.

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
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
	"time"

	"github.com/larder-mirror/larder/storage"
)

// controlSocket is the socket's name in the data folder.
const controlSocket = "larder.sock"

// maxSocketPath is the longest path a Unix socket can be bound at on
// every system larder runs on (104 bytes on the BSDs and macOS, 108 on
// Linux, the terminating zero included).
const maxSocketPath = 103

const (
	frameProgress = 'p' // JSON storage.Progress
	frameNote     = 'n' // a line for standard error
	frameData     = 'd' // bytes of an archive
	frameResult   = 'r' // JSON result; the last frame of a success
	frameError    = 'e' // the error's text; the last frame of a failure
)

// maxFrame bounds a frame's payload on reading: data frames are written in
// pieces far smaller, and a result is a report.
const maxFrame = 64 << 20

func writeFrame(w io.Writer, kind byte, payload []byte) error {
	var head [5]byte
	head[0] = kind
	binary.BigEndian.PutUint32(head[1:], uint32(len(payload)))
	if _, err := w.Write(head[:]); err != nil {
		return err
	}
	_, err := w.Write(payload)
	return err
}

func readFrame(r io.Reader) (byte, []byte, error) {
	var head [5]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(head[1:])
	if n > maxFrame {
		return 0, nil, fmt.Errorf("a frame of %d bytes: not a larder control answer", n)
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		return 0, nil, err
	}
	return head[0], payload, nil
}

// frameWriter writes the frames of one answer. Progress is sent at most
// every 100 ms: the client redraws no faster.
type frameWriter struct {
	w    io.Writer
	f    http.Flusher
	last time.Time
	err  error
}

func (fw *frameWriter) send(kind byte, payload []byte) {
	if fw.err != nil {
		return
	}
	fw.err = writeFrame(fw.w, kind, payload)
	if fw.f != nil && kind != frameData {
		fw.f.Flush()
	}
}

func (fw *frameWriter) progress(p storage.Progress) {
	if now := time.Now(); now.Sub(fw.last) >= 100*time.Millisecond {
		fw.last = now
		b, _ := json.Marshal(p)
		fw.send(frameProgress, b)
	}
}

// Write sends bytes of an archive as data frames.
func (fw *frameWriter) Write(p []byte) (int, error) {
	fw.send(frameData, p)
	return len(p), fw.err
}

func (fw *frameWriter) finish(result any, err error) {
	if err != nil {
		fw.send(frameError, []byte(err.Error()))
		return
	}
	b, merr := json.Marshal(result)
	if merr != nil {
		fw.send(frameError, []byte(merr.Error()))
		return
	}
	fw.send(frameResult, b)
}

// verifyRequest, gcRequest and exportRequest are the bodies of POST
// /verify, /gc and /export.
type verifyRequest struct {
	Shard storage.Shard `json:"shard,omitzero"`
}

type gcRequest struct {
	MaxSize   int64         `json:"max_size"`
	OrphanAge time.Duration `json:"orphan_age"`
}

type exportRequest struct {
	Registry  string         `json:"registry,omitempty"`
	Since     time.Time      `json:"since,omitzero"`
	Key       []byte         `json:"key,omitempty"`
	Lockfiles []lockfileCopy `json:"lockfiles,omitempty"`
}

// lockfileCopy is a lockfile sent whole: the running larder may not be
// allowed to read the caller's files.
type lockfileCopy struct {
	Name string `json:"name"`
	Body []byte `json:"body"`
}

// control answers maintenance requests for a running larder.
type control struct {
	a    *app
	busy sync.Mutex // one maintenance task at a time
}

// listenControl serves the control socket until the returned stop is
// called. A folder served read-only gets none: nothing there may change,
// and an export can open it beside the server.
func (a *app) listenControl(log *slog.Logger) (stop func()) {
	if a.store.ReadOnly() {
		return func() {}
	}
	path := filepath.Join(a.cfg.Data, controlSocket)
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	if len(path) > maxSocketPath {
		log.Warn("the data folder's path is too long for a control socket: larder gc, verify and export cannot work through this larder while it runs", "socket", path)
		return func() {}
	}
	// This process holds the folder: a socket left there is a dead
	// larder's.
	os.Remove(path)
	ln, err := listenPrivately(path)
	if err != nil {
		log.Warn("no control socket: larder gc, verify and export cannot work through this larder while it runs", "socket", path, "err", err)
		return func() {}
	}
	c := &control{a: a}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /verify", c.verify)
	mux.HandleFunc("POST /gc", c.gc)
	mux.HandleFunc("POST /export", c.export)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	go srv.Serve(ln)
	return func() {
		srv.Close() // cancels the requests of maintenance tasks under way
		// and waits for a task to stop before the store closes under it.
		c.busy.Lock()
		c.busy.Unlock()
		os.Remove(path)
	}
}

// listenPrivately listens on a Unix socket at path that only its owner may
// connect to (connecting takes write permission on it; root passes any
// check). The socket is made and narrowed in a folder of the owner's alone,
// then moved into place: made at path, it would be open to anyone between
// its creation and its chmod. The folder's name is fixed, and short: the
// caller holds the data folder, and a socket's path is short of room.
func listenPrivately(path string) (net.Listener, error) {
	dir := filepath.Join(filepath.Dir(path), ".ctl")
	os.RemoveAll(dir) // a dead larder's
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	made := filepath.Join(dir, "s")
	ln, err := net.Listen("unix", made)
	if err != nil {
		return nil, err
	}
	// Moved away, it is path's to remove (see listenControl's stop).
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	if err := os.Chmod(made, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	if err := os.Rename(made, path); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}

// run answers one request with the frames task writes, one task at a time.
func (c *control) run(w http.ResponseWriter, r *http.Request, what string, task func(ctx context.Context, fw *frameWriter) (any, error)) {
	if !c.busy.TryLock() {
		http.Error(w, "larder is running another maintenance task; try again once it is done", http.StatusConflict)
		return
	}
	w.Header().Set("Content-Type", "application/x-larder-frames")
	fw := &frameWriter{w: w}
	fw.f, _ = w.(http.Flusher)
	start := time.Now()
	c.a.log.Info("maintenance through the control socket", "task", what)
	// Let go before the last frame, not after it: a caller that starts the
	// next task the moment it has this one's answer must not find it busy.
	result, err := func() (any, error) {
		defer c.busy.Unlock()
		return task(r.Context(), fw)
	}()
	if err != nil {
		c.a.log.Warn("maintenance failed", "task", what, "err", err, "took", time.Since(start).Round(time.Millisecond))
	} else {
		c.a.log.Info("maintenance done", "task", what, "took", time.Since(start).Round(time.Millisecond))
	}
	fw.finish(result, err)
}

func (c *control) verify(w http.ResponseWriter, r *http.Request) {
	var req verifyRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
		http.Error(w, "a verify request: "+err.Error(), http.StatusBadRequest)
		return
	}
	c.run(w, r, "verify", func(ctx context.Context, fw *frameWriter) (any, error) {
		return c.a.store.Verify(ctx, storage.VerifyOptions{Shard: req.Shard, Progress: fw.progress})
	})
}

func (c *control) gc(w http.ResponseWriter, r *http.Request) {
	var req gcRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
		http.Error(w, "a gc request: "+err.Error(), http.StatusBadRequest)
		return
	}
	c.run(w, r, "gc", func(ctx context.Context, fw *frameWriter) (any, error) {
		c.a.env.Hits.Flush(ctx) // eviction goes by last served: count the latest hits first
		rep, err := c.a.store.GC(ctx, storage.GCOptions{MaxSize: req.MaxSize, OrphanAge: req.OrphanAge, Progress: fw.progress})
		if err == nil {
			c.a.cacheBytes.Store(rep.After)
		}
		return rep, err
	})
}

func (c *control) export(w http.ResponseWriter, r *http.Request) {
	var req exportRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 256<<20)).Decode(&req); err != nil {
		http.Error(w, "an export request: "+err.Error(), http.StatusBadRequest)
		return
	}
	c.run(w, r, "export", func(ctx context.Context, fw *frameWriter) (any, error) {
		filter := storage.ExportFilter{Registry: req.Registry, Since: req.Since}
		if len(req.Lockfiles) > 0 {
			if err := c.lockfileFilter(ctx, req.Lockfiles, fw, &filter); err != nil {
				return nil, fmt.Errorf("export: %w", err)
			}
		}
		return c.a.store.Export(ctx, fw, storage.ExportOptions{Filter: filter, Progress: fw.progress, Key: req.Key})
	})
}

// lockfileFilter reads the lockfiles sent, under their own names (which
// say their format), into f as export --lockfile reads them; its notes go
// back as note frames.
func (c *control) lockfileFilter(ctx context.Context, files []lockfileCopy, fw *frameWriter, f *storage.ExportFilter) error {
	dir, err := os.MkdirTemp("", "larder-export-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var names []string
	shown := map[string]string{} // the copy's path: the caller's name
	for i, f := range files {
		sub := filepath.Join(dir, fmt.Sprint(i))
		if err := os.Mkdir(sub, 0o700); err != nil {
			return err
		}
		name := filepath.Join(sub, filepath.Base(f.Name))
		if err := os.WriteFile(name, f.Body, 0o600); err != nil {
			return err
		}
		names = append(names, name)
		shown[name] = f.Name
	}
	var notes bytes.Buffer
	err = lockfileFilter(ctx, c.a.store, names, console{out: io.Discard, err: &notes}, f)
	text := notes.String()
	for name, as := range shown {
		text = strings.ReplaceAll(text, name, as)
		if err != nil {
			err = errors.New(strings.ReplaceAll(err.Error(), name, as))
		}
	}
	if text = strings.TrimSpace(text); text != "" {
		fw.send(frameNote, []byte(text))
	}
	return err
}

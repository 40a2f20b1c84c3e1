package registries

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"syscall"
	"testing"
)

// What a client is told of an error says what went wrong, never where on
// the server.
func TestErrorMessageShowsNoServerPath(t *testing.T) {
	blob := "/srv/larder-data/blobs/tmp/blob-12345"
	for _, c := range []struct {
		name string
		err  error
		want string
	}{
		{"a full disk while storing a download",
			fmt.Errorf("writing left-pad/-/left-pad-1.0.0.tgz: %w", &fs.PathError{Op: "write", Path: blob, Err: syscall.ENOSPC}),
			"writing left-pad/-/left-pad-1.0.0.tgz: larder could not store the file: no space left on device"},
		{"a sync that failed",
			fmt.Errorf("blob store: sync: %w", &fs.PathError{Op: "sync", Path: blob, Err: syscall.EIO}),
			"blob store: sync: larder could not store the file: input/output error"},
		{"a rename into place",
			fmt.Errorf("blob store: %w", &os.LinkError{Op: "rename", Old: blob, New: "/srv/larder-data/blobs/sha256/ab/abcd", Err: syscall.EROFS}),
			"blob store: larder could not store the file: read-only file system"},
		{"a held file that cannot be read",
			fmt.Errorf("serving x.tgz: %w", &fs.PathError{Op: "read", Path: "/srv/larder-data/blobs/sha256/ab/abcd", Err: syscall.EIO}),
			"serving x.tgz: larder could not read a file it holds: input/output error"},
		{"a temporary file that cannot be created",
			fmt.Errorf("blob store: %w", &fs.PathError{Op: "open", Path: blob, Err: syscall.EMFILE}),
			"blob store: larder could not open a file: too many open files"},
		{"a path also written out by hand",
			fmt.Errorf("storing %s: %w", blob, &fs.PathError{Op: "write", Path: blob, Err: syscall.EDQUOT}),
			"storing blob-12345: larder could not store the file: disk quota exceeded"},
		{"two at once",
			errors.Join(&fs.PathError{Op: "write", Path: blob, Err: syscall.ENOSPC}, &fs.PathError{Op: "remove", Path: blob + "x", Err: syscall.EROFS}),
			"larder could not store the file: no space left on device\nlarder could not store the file: read-only file system"},
		{"an upstream failure, whose text is the upstream's",
			fmt.Errorf("fetching: %w", &UpstreamError{Upstream: "registry.npmjs.org", Status: 502, Err: errors.New("connection refused")}),
			"upstream registry.npmjs.org: connection refused"},
		{"anything else, unchanged", errors.New("database is locked"), "database is locked"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, cut := clientMessage(c.err)
			if got != c.want {
				t.Errorf("got  %q\nwant %q", got, c.want)
			}
			if strings.Contains(got, "/srv/") {
				t.Errorf("%q shows a server path", got)
			}
			if wantCut := strings.Contains(c.err.Error(), "/srv/"); cut != wantCut {
				t.Errorf("cut = %v, want %v", cut, wantCut)
			}
			if ErrorMessage(c.err) != got {
				t.Errorf("ErrorMessage = %q, want %q", ErrorMessage(c.err), got)
			}
		})
	}
}

// Every 5xx is logged with its cause; a 4xx is the client's affair.
func TestEveryServerErrorIsLoggedWithItsCause(t *testing.T) {
	e := newTestEnv(t)
	var log strings.Builder
	e.Log = slog.New(slog.NewTextHandler(&log, nil))
	u := e.upstream(t, "http://127.0.0.1:9/", Options{})
	u.ErrorMessage(errors.New("database is locked"))
	u.ErrorMessage(fmt.Errorf("fetching: %w", &UpstreamError{Upstream: "registry.npmjs.org", Status: 502, Err: errors.New("connection refused")}))
	u.ErrorMessage(fmt.Errorf("x: %w", ErrNotFound))
	got := log.String()
	for _, want := range []string{
		`level=WARN msg="request failed" registry=test status=500 err="database is locked"`,
		`level=WARN msg="request failed" registry=test status=502 err="fetching: upstream registry.npmjs.org: connection refused"`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the log lacks %s:\n%s", want, got)
		}
	}
	if strings.Contains(got, "not found") {
		t.Errorf("a 404 was logged as a failure:\n%s", got)
	}
}

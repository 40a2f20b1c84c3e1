package registries

import (
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// ErrorMessage is the text a client is told for err: an upstream failure
// as the upstream's, anything else as it reads, except that a file system
// error says what went wrong and not where: the path of a blob being
// written is the server's business (see Upstream.ErrorMessage, which logs
// what is left out).
func ErrorMessage(err error) string {
	msg, _ := clientMessage(err)
	return msg
}

// ErrorMessage is ErrorMessage(err), and logs err whole when the client's
// text leaves part of it out, so that the log keeps it, and whenever the
// answer is a 5xx: the request's own log line says only its status, and an
// operator needs the cause.
func (u *Upstream) ErrorMessage(err error) string {
	msg, cut := clientMessage(err)
	status := StatusOf(err)
	switch {
	case cut:
		u.log.Warn("request failed; the client was told without server paths", "status", status, "err", err, "told", msg)
	case status >= 500:
		u.log.Warn("request failed", "status", status, "err", err)
	}
	return msg
}

// clientMessage is the text a client is told for err, and whether that
// left a server path out.
func clientMessage(err error) (string, bool) {
	msg := err.Error()
	var ue *UpstreamError
	if errors.As(err, &ue) {
		msg = ue.Error()
	}
	// Whole error texts first, then stray paths, longest first each: one
	// path may begin another.
	texts := map[string]string{}
	var paths []string
	eachError(err, func(e error) {
		switch e := e.(type) {
		case *fs.PathError:
			texts[e.Error()] = storageFailure(e.Op, e.Err)
			paths = append(paths, e.Path)
		case *os.LinkError:
			texts[e.Error()] = storageFailure(e.Op, e.Err)
			paths = append(paths, e.Old, e.New)
		}
	})
	before := msg
	for _, t := range longestFirst(slices.Collect(maps.Keys(texts))) {
		msg = strings.ReplaceAll(msg, t, texts[t])
	}
	// A path also written into a message by hand keeps only its last
	// element, which names nothing on the server.
	for _, p := range longestFirst(paths) {
		if p != "" && p != "." && p != "/" {
			msg = strings.ReplaceAll(msg, p, filepath.Base(p))
		}
	}
	return msg, msg != before
}

func longestFirst(s []string) []string {
	slices.SortFunc(s, func(a, b string) int { return len(b) - len(a) })
	return s
}

// storageFailure says what larder could not do with a file, by the
// operation and its errno.
func storageFailure(op string, errno error) string {
	switch {
	case errors.Is(errno, syscall.ENOSPC), errors.Is(errno, syscall.EDQUOT), errors.Is(errno, syscall.EROFS), errors.Is(errno, syscall.EFBIG):
		return "larder could not store the file: " + errno.Error()
	}
	switch op {
	case "read", "pread", "seek", "stat", "lstat", "fstat", "readdirent", "readlink":
		return "larder could not read a file it holds: " + errno.Error()
	case "open":
		return "larder could not open a file: " + errno.Error()
	}
	return "larder could not store the file: " + errno.Error()
}

// eachError calls fn on err and on every error it wraps, through both
// forms of Unwrap.
func eachError(err error, fn func(error)) {
	if err == nil {
		return
	}
	fn(err)
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		eachError(u.Unwrap(), fn)
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			eachError(e, fn)
		}
	}
}

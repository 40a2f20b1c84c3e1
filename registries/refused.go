package registries

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Refused is a request a kind will not serve (a malformed path, a name its
// configuration excludes): a 404 that says why.
type Refused struct{ Err error }

func (r Refused) Error() string { return r.Err.Error() }
func (r Refused) Unwrap() error { return r.Err }

// Refuse is a Refused that says why in a formatted line.
func Refuse(format string, args ...any) error {
	return Refused{fmt.Errorf(format, args...)}
}

// WritePlainError answers err as clients that print an error body as they
// read it do (go, cargo, mvn, bundler): a status and a line of text. What
// larder will not serve, or cannot fetch while the upstream is out of
// reach, is a 404 whose line begins "not found" (the client tries its next
// source, or says the file is missing); a failure of the upstream a 502 or
// 504.
func (u *Upstream) WritePlainError(w http.ResponseWriter, err error) {
	var refused Refused
	if errors.As(err, &refused) {
		WriteTextError(w, http.StatusNotFound, "not found: "+refused.Error())
		return
	}
	status := StatusOf(err)
	msg := u.ErrorMessage(err)
	if status == http.StatusNotFound && !strings.HasPrefix(msg, "not found") {
		msg = "not found: " + msg
	}
	WriteTextError(w, status, msg)
}

// RefusedWrite answers a request that is neither a GET nor a HEAD with a
// 405 in a line of text (larder is a read-only mirror; hint, if any, says
// where such a request goes instead), and reports whether it did.
func RefusedWrite(w http.ResponseWriter, r *http.Request, hint string) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return false
	}
	msg := "larder is a read-only mirror: " + r.Method + " is not supported"
	if hint != "" {
		msg += " (" + hint + ")"
	}
	w.Header().Set("Allow", "GET, HEAD")
	WriteTextError(w, http.StatusMethodNotAllowed, msg)
	return true
}

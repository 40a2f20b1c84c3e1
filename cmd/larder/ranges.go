package main

import (
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
)

// withoutEmptySuffixRanges takes "-0" (the last zero bytes) out of a
// request's Range before the handlers see it. No representation has such a
// range (RFC 9110, 14.1.3), but http.ServeContent, which serves larder's
// files, answers it with a 206 whose Content-Range ends before it starts.
// A Range of nothing else becomes one no representation reaches, which
// ServeContent answers as it should: 416 with the length. Handlers that
// ignore ranges ignore either.
func withoutEmptySuffixRanges(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if v := r.Header["Range"]; len(v) == 1 {
			if fixed, changed := dropEmptySuffixRanges(v[0]); changed {
				r = r.Clone(r.Context())
				r.Header["Range"] = []string{fixed}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// unreachableRange starts past the end of anything.
var unreachableRange = "bytes=" + strconv.FormatInt(1<<63-1, 10) + "-"

// dropEmptySuffixRanges is a Range header value without its "-0" ranges,
// and whether it had any.
func dropEmptySuffixRanges(v string) (string, bool) {
	spec, ok := strings.CutPrefix(v, "bytes=")
	if !ok || !strings.Contains(spec, "-0") {
		return v, false
	}
	var kept []string
	dropped := false
	for _, ra := range strings.Split(spec, ",") {
		ra = textproto.TrimString(ra)
		if n, ok := strings.CutPrefix(ra, "-"); ok && n != "" && strings.Trim(n, "0") == "" {
			dropped = true
			continue
		}
		kept = append(kept, ra)
	}
	switch {
	case !dropped:
		return v, false
	case strings.Join(kept, "") == "":
		return unreachableRange, true
	}
	return "bytes=" + strings.Join(kept, ","), true
}

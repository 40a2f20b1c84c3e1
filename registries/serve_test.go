package registries

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	npmAbbreviated = "application/vnd.npm.install-v1+json"
	npmJSON        = "application/json"
	pypiJSON       = "application/vnd.pypi.simple.v1+json"
	pypiHTML       = "application/vnd.pypi.simple.v1+html"
	textHTML       = "text/html"
)

func TestNegotiate(t *testing.T) {
	t.Parallel()
	npmOffers := []string{npmAbbreviated, npmJSON}
	pypiOffers := []string{pypiJSON, pypiHTML, textHTML}
	pypiHTMLFirst := []string{textHTML, pypiHTML, pypiJSON}
	tests := []struct {
		name   string
		accept string
		offers []string
		want   string
	}{
		{"npm's install Accept picks the abbreviated packument",
			"application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*", npmOffers, npmAbbreviated},
		{"npm's install Accept picks the abbreviated packument even when JSON is offered first",
			"application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*", []string{npmJSON, npmAbbreviated}, npmAbbreviated},
		{"plain application/json picks the full packument",
			"application/json", npmOffers, npmJSON},
		{"pip's Accept picks PEP 691 JSON",
			"application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01", pypiHTMLFirst, pypiJSON},
		{"uv's Accept picks PEP 691 JSON",
			"application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01", pypiHTMLFirst, pypiJSON},
		{"poetry's Accept picks PEP 691 JSON over the wildcard",
			"application/vnd.pypi.simple.v1+json, */*;q=0.1", pypiHTMLFirst, pypiJSON},
		{"pip without JSON support picks the versioned HTML",
			"application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01", pypiOffers, pypiHTML},
		{"*/* picks the server's first offer",
			"*/*", pypiHTMLFirst, textHTML},
		{"an empty Accept picks the server's first offer",
			"", pypiOffers, pypiJSON},
		{"a blank Accept picks the server's first offer",
			"   ", pypiOffers, pypiJSON},
		{"text/* matches text/html only",
			"text/*", pypiOffers, textHTML},
		{"an exact type outranks a wildcard with a higher q",
			"text/html;q=0.5, */*;q=0.9", []string{textHTML}, textHTML},
		{"q=0 excludes a type that a wildcard would admit",
			"text/html;q=0, */*", []string{textHTML, npmJSON}, npmJSON},
		{"q=0 on every match leaves nothing acceptable",
			"text/html;q=0", []string{textHTML}, ""},
		{"a type nobody offers leaves nothing acceptable",
			"image/png", pypiOffers, ""},
		{"a garbage q makes the range unacceptable",
			"application/json;q=abc, text/html;q=0.5", []string{npmJSON, textHTML}, textHTML},
		{"ties go to the earlier offer",
			"application/json, text/html", []string{textHTML, npmJSON}, textHTML},
		{"media types match case-insensitively",
			"Application/JSON", npmOffers, npmJSON},
		{"parameters other than q do not stop a match",
			"text/html;level=1;q=0.7, application/json;q=0.2", []string{npmJSON, textHTML}, textHTML},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Negotiate(tt.accept, tt.offers); got != tt.want {
				t.Errorf("Negotiate(%q, %q) = %q, want %q", tt.accept, tt.offers, got, tt.want)
			}
		})
	}
}

func TestAcceptQ(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		accept string
		offer  string
		want   float64
	}{
		{"an exact match takes its own q", "application/json; q=0.8, */*", npmJSON, 0.8},
		{"the wildcard counts when nothing more specific matches", "application/json; q=0.8, */*;q=0.3", textHTML, 0.3},
		{"type/* outranks */*", "text/*;q=0.4, */*;q=0.9", textHTML, 0.4},
		{"an exact match outranks type/*", "text/*;q=0.4, text/html;q=0.2", textHTML, 0.2},
		{"no match is q=0", "application/json", textHTML, 0},
		{"an absent q is 1", "text/html", textHTML, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := acceptQ(tt.accept, tt.offer); got != tt.want {
				t.Errorf("acceptQ(%q, %q) = %v, want %v", tt.accept, tt.offer, got, tt.want)
			}
		})
	}
}

func TestQValue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		params string
		want   float64
	}{
		{"no parameters mean q=1", "", 1},
		{"a plain q is read", "q=0.8", 0.8},
		{"spaces and case around q are tolerated", " Q = 0.25 ", 0.25},
		{"q is found among other parameters", "level=1; q=0.5", 0.5},
		{"q=0 is kept as 0", "q=0", 0},
		{"a q above 1 is clamped to 1", "q=7", 1},
		{"a negative q is 0", "q=-1", 0},
		{"a garbage q is 0", "q=high", 0},
		{"an empty q is 0", "q=", 0},
		{"a parameter without a value is ignored", "charset", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := qValue(tt.params); got != tt.want {
				t.Errorf("qValue(%q) = %v, want %v", tt.params, got, tt.want)
			}
		})
	}
}

func TestAcceptsGzip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		header string
		want   bool
	}{
		{"gzip", true},
		{"deflate, gzip;q=1.0, *;q=0.5", true},
		{"GZIP", true},
		{"gzip;q=0", false},
		{"br", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := acceptsGzip(tt.header); got != tt.want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", tt.header, got, tt.want)
		}
	}
}

func TestETagMatches(t *testing.T) {
	t.Parallel()
	tests := []struct {
		ifNoneMatch string
		want        bool
	}{
		{`"abc"`, true},
		{`W/"abc"`, true},
		{`"xyz", "abc"`, true},
		{`*`, true},
		{`"xyz"`, false},
		{`abc`, false},
		{``, false},
	}
	for _, tt := range tests {
		if got := etagMatches(tt.ifNoneMatch, `"abc"`); got != tt.want {
			t.Errorf("etagMatches(%q, %q) = %v, want %v", tt.ifNoneMatch, `"abc"`, got, tt.want)
		}
	}
}

func TestServeDocument(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	u := e.upstream(t, "http://127.0.0.1:1/", Options{MetadataTTL: 5 * time.Minute})
	doc := NewRendered([]byte(strings.Repeat(`{"name":"left-pad"}`, 100)), "application/json")

	serve := func(method string, header http.Header) *http.Response {
		r := httptest.NewRequest(method, "/left-pad", nil)
		for k, v := range header {
			r.Header[k] = v
		}
		w := httptest.NewRecorder()
		u.ServeDocument(w, r, doc, Revalidated, "Accept")
		return w.Result()
	}

	t.Run("a plain GET gets the body with the shared cache headers", func(t *testing.T) {
		resp := serve(http.MethodGet, nil)
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || !bytes.Equal(body, doc.Body) {
			t.Fatalf("got %d with %d bytes, want 200 with the document", resp.StatusCode, len(body))
		}
		want := map[string]string{
			"Content-Type":   "application/json",
			"ETag":           doc.ETag,
			"Vary":           "Accept",
			"X-Larder-Cache": "REVALIDATED",
			"Cache-Control":  "public, max-age=300",
			"Content-Length": strconv.Itoa(len(doc.Body)),
		}
		for k, v := range want {
			if got := resp.Header.Get(k); got != v {
				t.Errorf("%s = %q, want %q", k, got, v)
			}
		}
		if cc := resp.Header.Get("Cache-Control"); strings.Contains(cc, "must-revalidate") || strings.Contains(cc, "no-cache") {
			t.Errorf("Cache-Control %q forbids clients to fall back on their own cache", cc)
		}
		if resp.Header.Get("Content-Encoding") != "" {
			t.Errorf("Content-Encoding %q without Accept-Encoding", resp.Header.Get("Content-Encoding"))
		}
	})

	t.Run("a matching If-None-Match gets 304 and no body", func(t *testing.T) {
		for _, inm := range []string{doc.ETag, "W/" + doc.ETag, `"other", ` + doc.ETag} {
			resp := serve(http.MethodGet, http.Header{"If-None-Match": {inm}})
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusNotModified || len(body) != 0 {
				t.Errorf("If-None-Match %s: got %d with %d bytes, want 304 with none", inm, resp.StatusCode, len(body))
			}
			if resp.Header.Get("ETag") != doc.ETag {
				t.Errorf("If-None-Match %s: a 304 without the ETag", inm)
			}
		}
	})

	t.Run("a stale If-None-Match gets the body", func(t *testing.T) {
		resp := serve(http.MethodGet, http.Header{"If-None-Match": {`"old"`}})
		if resp.StatusCode != http.StatusOK {
			t.Errorf("got %d, want 200", resp.StatusCode)
		}
	})

	t.Run("a client that takes gzip gets the gzipped body", func(t *testing.T) {
		resp := serve(http.MethodGet, http.Header{"Accept-Encoding": {"gzip, deflate"}})
		if resp.Header.Get("Content-Encoding") != "gzip" {
			t.Fatalf("Content-Encoding = %q, want gzip", resp.Header.Get("Content-Encoding"))
		}
		raw, _ := io.ReadAll(resp.Body)
		if resp.Header.Get("Content-Length") != strconv.Itoa(len(raw)) {
			t.Errorf("Content-Length %s for %d gzipped bytes", resp.Header.Get("Content-Length"), len(raw))
		}
		if got := gunzip(t, raw); !bytes.Equal(got, doc.Body) {
			t.Errorf("gunzipped body differs from the document")
		}
	})

	t.Run("HEAD gets the headers and no body", func(t *testing.T) {
		resp := serve(http.MethodHead, nil)
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || len(body) != 0 {
			t.Errorf("got %d with %d bytes, want 200 with none", resp.StatusCode, len(body))
		}
		if resp.Header.Get("Content-Length") != strconv.Itoa(len(doc.Body)) {
			t.Errorf("Content-Length = %q, want the GET's %d", resp.Header.Get("Content-Length"), len(doc.Body))
		}
	})

	t.Run("the request is counted under its cache status", func(t *testing.T) {
		if n := e.metricValue(t, "larder_requests_total", "registry", testRegistry, "kind", "document", "cache", "REVALIDATED"); n < 1 {
			t.Errorf("larder_requests_total{kind=document,cache=REVALIDATED} = %v, want at least 1", n)
		}
	})
}

func TestWriteJSONError(t *testing.T) {
	t.Parallel()
	w := httptest.NewRecorder()
	WriteJSONError(w, http.StatusBadGateway, `upstream "x" failed`)
	resp := w.Result()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusBadGateway {
		t.Errorf("status = %d, want 502", resp.StatusCode)
	}
	if resp.Header.Get("Content-Length") != strconv.Itoa(len(body)) {
		t.Errorf("Content-Length %s for a %d-byte body", resp.Header.Get("Content-Length"), len(body))
	}
	var m map[string]string
	if err := json.Unmarshal(body, &m); err != nil || m["error"] != `upstream "x" failed` {
		t.Errorf("body %q is not {\"error\": message} (%v)", body, err)
	}
}

func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not gzip: %v", err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("gunzip: %v", err)
	}
	return out
}

func TestChoicesRememberABoundedNumberOfHeaders(t *testing.T) {
	calls := 0
	c := NewChoices(func(accept string) string {
		calls++
		return "chose " + accept
	})
	for range 3 {
		if got := c.Of("text/html"); got != "chose text/html" {
			t.Fatalf("Of = %q", got)
		}
	}
	if calls != 1 {
		t.Errorf("negotiated %d times for one header, want 1", calls)
	}
	for i := range 2 * choicesMax {
		a := fmt.Sprintf("type/%d", i)
		if got := c.Of(a); got != "chose "+a {
			t.Fatalf("Of(%q) = %q", a, got)
		}
	}
	held := 0
	c.seen.Range(func(any, any) bool { held++; return true })
	if held > choicesMax {
		t.Errorf("%d headers remembered, at most %d wanted", held, choicesMax)
	}
}

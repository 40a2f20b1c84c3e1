package main

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// The hand-written request line must read exactly as slog's would, so that
// one parser reads every line of larder's log.
func TestRequestLogMatchesSlog(t *testing.T) {
	at := time.Date(2026, 11, 25, 4, 49, 27, 99_123_456, time.UTC)
	entries := []requestEntry{
		{at, "GET", "/npm/small/-/small-1.0.0.tgz", 200, 10877, "HIT", 1234567 * time.Nanosecond, "127.0.0.1:40000"},
		{at, "HEAD", "/pypi/simple/x/", 304, 0, "", 3 * time.Second, "[::1]:1"},
		{at, "GET", `/npm/a b="c"\d` + "\x00\x7f<&>", 400, 31, "MISS", 0, "10.0.0.1:2"},
		{at, "GET", "/pypi/simple/caf\u00e9/a\x7fb", 404, 9, "MISS", 0, "x"},
		{at, "GET", "/npm/\xff\u2028", 400, 9, "", 0, "x"},
		{at.In(time.FixedZone("", 5*3600+1800)), "GET", "/x?q=1&y=%20", 502, -1, "STALE", time.Microsecond, "1.2.3.4:5"},
	}
	for _, format := range []string{"text", "json"} {
		for _, e := range entries {
			var want bytes.Buffer
			cfg := Config{LogFormat: format, LogLevel: "info"}
			level := slog.LevelInfo
			if e.status >= 500 {
				level = slog.LevelWarn // larder failed: a warning
			}
			newLogger(cfg, &want).LogAttrs(context.Background(), level, "request",
				slog.String("method", e.method), slog.String("path", e.path), slog.Int("status", e.status),
				slog.Int64("bytes", e.bytes), slog.String("cache", e.cache), slog.Duration("took", e.took),
				slog.String("remote", e.remote))
			var got bytes.Buffer
			newRequestLog(cfg, &got).write(e)
			// slog stamps the time itself; compare after the time field.
			w := want.String()[strings.Index(want.String(), "level"):]
			g := got.String()[strings.Index(got.String(), "level"):]
			if g != w {
				t.Errorf("%s:\n got %s\nwant %s", format, g, w)
			}
			var stamp bytes.Buffer
			if format == "text" {
				stamp.WriteString("time=" + e.at.Format(slogTime) + " ")
			} else {
				stamp.WriteString(`{"time":"` + e.at.Format(time.RFC3339Nano) + `",`)
			}
			if !strings.HasPrefix(got.String(), stamp.String()) {
				t.Errorf("%s: line starts %q, want %q", format, got.String()[:len(stamp.String())], stamp.String())
			}
		}
	}
}

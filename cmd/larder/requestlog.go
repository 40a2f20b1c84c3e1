package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/larder-mirror/larder/cmd/larder/front"
)

// requestLog writes the one line a request that log/slog would write for
// the same attributes, in the same text or JSON form, without slog's
// generic attribute walk: on a cached 10 KB tarball that walk was a quarter
// of larder's own work per request. requestLogMatchesSlog keeps the two
// forms identical.
type requestLog struct {
	out  io.Writer
	json bool
	bufs sync.Pool
}

func newRequestLog(cfg Config, out io.Writer) *requestLog {
	return &requestLog{out: out, json: cfg.LogFormat == "json", bufs: sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}}
}

type requestEntry struct {
	at     time.Time
	method string
	path   string
	status int
	bytes  int64
	cache  string
	took   time.Duration
	remote string
}

func (l *requestLog) write(e requestEntry) {
	bp := l.bufs.Get().(*[]byte)
	b := (*bp)[:0]
	if l.json {
		b = e.appendJSON(b)
	} else {
		b = e.appendText(b)
	}
	l.out.Write(b)
	*bp = b
	l.bufs.Put(bp)
}

// The time as slog writes it: RFC 3339 with milliseconds.
const slogTime = "2006-01-02T15:04:05.000Z07:00"

// level is WARN for an answer that says larder failed (a 5xx), so that an
// operator who keeps only warnings sees them; INFO otherwise.
func (e requestEntry) level() string {
	if e.status >= 500 {
		return "WARN"
	}
	return "INFO"
}

func (e requestEntry) appendText(b []byte) []byte {
	b = append(b, "time="...)
	b = e.at.AppendFormat(b, slogTime)
	b = append(b, " level="...)
	b = append(b, e.level()...)
	b = append(b, " msg=request method="...)
	b = appendTextString(b, e.method)
	b = append(b, " path="...)
	b = appendTextString(b, e.path)
	b = append(b, " status="...)
	b = strconv.AppendInt(b, int64(e.status), 10)
	b = append(b, " bytes="...)
	b = strconv.AppendInt(b, e.bytes, 10)
	b = append(b, " cache="...)
	b = appendTextString(b, e.cache)
	b = append(b, " took="...)
	b = append(b, e.took.String()...)
	b = append(b, " remote="...)
	b = appendTextString(b, e.remote)
	return append(b, '\n')
}

func (e requestEntry) appendJSON(b []byte) []byte {
	b = append(b, `{"time":"`...)
	b = e.at.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","level":"`...)
	b = append(b, e.level()...)
	b = append(b, `","msg":"request","method":`...)
	b = appendJSONString(b, e.method)
	b = append(b, `,"path":`...)
	b = appendJSONString(b, e.path)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(e.status), 10)
	b = append(b, `,"bytes":`...)
	b = strconv.AppendInt(b, e.bytes, 10)
	b = append(b, `,"cache":`...)
	b = appendJSONString(b, e.cache)
	b = append(b, `,"took":`...)
	b = strconv.AppendInt(b, int64(e.took), 10)
	b = append(b, `,"remote":`...)
	b = appendJSONString(b, e.remote)
	return append(b, "}\n"...)
}

// appendTextString quotes where slog's text form does: an empty value, or
// one with a space, '=', a quote, a control character or a rune that is
// not printable.
func appendTextString(b []byte, s string) []byte {
	if s == "" {
		return append(b, `""`...)
	}
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c <= ' ' || c == '=' || c == '"' {
				return strconv.AppendQuote(b, s)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return strconv.AppendQuote(b, s)
		}
		i += size
	}
	return append(b, s...)
}

func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c == '"' || c == '\\' || c >= 0x7f {
			// The rare hostile path: encoding/json's escaping, which is
			// slog's, HTML characters left as they are.
			var q bytes.Buffer
			enc := json.NewEncoder(&q)
			enc.SetEscapeHTML(false)
			enc.Encode(s)
			return append(b, bytes.TrimSuffix(q.Bytes(), []byte("\n"))...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// requestLogger writes a request's line once it is answered, at level
// info: a front.Middleware, so that quick answers, refusals and handled
// requests are logged alike under either engine.
type requestLogger struct {
	log *slog.Logger
	out *requestLog
}

func (l requestLogger) Admit(*front.Request) *front.Refusal { return nil }

func (l requestLogger) Answered(r *front.Request, o *front.Outcome) {
	level := slog.LevelInfo
	if o.Status >= 500 {
		level = slog.LevelWarn
	}
	if !l.log.Enabled(context.Background(), level) {
		return
	}
	end := time.Now()
	l.out.write(requestEntry{
		at:     end,
		method: r.Method(),
		path:   r.Target(),
		status: o.Status,
		bytes:  o.Bytes,
		cache:  o.Header("X-Larder-Cache"),
		took:   end.Sub(r.Start()),
		remote: r.Remote(),
	})
}

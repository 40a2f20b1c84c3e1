package main

import (
	"net/http"
	"strings"
	"testing"
)

// What applies to every request lives in the front's chain, which both
// engines run around quick answers and handlers alike; middleware on the
// router would miss the quick answers.
func TestTheRouterHasNoMiddlewareOfItsOwn(t *testing.T) {
	m := startMirror(t, nil)
	if mw := m.app.router().Middlewares(); len(mw) != 0 {
		t.Fatalf("the router has %d middlewares; put them in app.chain, which quick answers go through too", len(mw))
	}
}

// A quick answer, a handled request and a refusal each make one log line,
// under either engine.
func TestEveryAnswerIsLoggedUnderEitherEngine(t *testing.T) {
	m := startMirror(t, []string{"s3cret"})
	auth := http.Header{"Authorization": {"Bearer s3cret"}}
	tgz := "/npm/leftpad/-/leftpad-1.0.0.tgz"
	m.do(t, m.std, "GET", tgz, auth) // fetched and held
	// net/http's handler logs once it returns, which may be after the
	// client has the whole body.
	m.waitLogLines(t, 1)
	for _, base := range []string{m.fast, m.std} {
		for _, c := range []struct {
			path   string
			header http.Header
			want   string
		}{
			{tgz, auth, "status=200"},
			{"/healthz", nil, "status=200"},
			{tgz, nil, "status=401"},
		} {
			n := strings.Count(m.log.String(), "\n")
			m.do(t, base, "GET", c.path, c.header)
			if got := m.waitLogLines(t, n+1); got != n+1 {
				t.Errorf("%s %s: %d log lines, want 1", base, c.path, got-n)
				continue
			}
			lines := strings.Split(strings.TrimSpace(m.log.String()), "\n")
			if last := lines[len(lines)-1]; !strings.Contains(last, c.want) || !strings.Contains(last, "path="+c.path) {
				t.Errorf("%s %s: logged %q, want %s", base, c.path, last, c.want)
			}
		}
	}
}

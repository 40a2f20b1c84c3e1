package pypi

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/larder-mirror/larder/pypi/pypitest"
	"github.com/larder-mirror/larder/registries"
)

// While the upstream is only suspect, a project page larder holds no file
// of is still answered (the stale page, whole): one failure may pass, and
// a 404 would make pip and uv give up on the project. Down, it is a 404.
func TestASuspectUpstreamWithNothingHeldAnswersTheStalePage(t *testing.T) {
	t.Parallel()
	up := pypitest.New()
	t.Cleanup(up.Close)
	up.AddWheel("alpha", "1.0.0", nil, "")
	m := newMirror(t, newTestEnv(t), up.IndexURL, []string{up.FilesURL}, registries.Options{MetadataTTL: time.Nanosecond, ProbeInterval: time.Hour, FailuresToDown: 50})
	if r := m.get(t, "/pypi/simple/alpha/"); r.status != http.StatusOK {
		t.Fatalf("warming the page: %d", r.status)
	}
	up.SetMode(pypitest.ModeRefuse)
	m.up.Health().Failure(errors.New("connection refused"))
	r := m.get(t, "/pypi/simple/alpha/")
	if r.status != http.StatusOK || !strings.Contains(r.body, "alpha-1.0.0") {
		t.Errorf("suspect, nothing held: %d %q, want the stale page", r.status, r.body)
	}
	for range 50 { // however many the probe and the revalidation added meanwhile
		m.up.Health().Failure(errors.New("connection refused"))
	}
	if r := m.get(t, "/pypi/simple/alpha/"); r.status != http.StatusNotFound {
		t.Errorf("down, nothing held: %d, want 404", r.status)
	}
}

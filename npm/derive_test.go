package npm

import (
	"strings"
	"testing"

	"github.com/larder-mirror/larder/npm/npmtest"
)

// Once larder holds a package's full packument, the abbreviated one is
// derived from it: one document per package from the upstream, not two.
func TestTheAbbreviatedPackumentIsDerivedFromAHeldFullOne(t *testing.T) {
	t.Parallel()
	up := npmtest.New()
	defer up.Close()
	up.Publish("leaf", "1.0.0", nil)
	m := newPinMirror(t, up)
	m.get(t, "/npm/leaf", "application/json") // npm view, say
	for range 3 {
		body := m.get(t, "/npm/leaf", mediaAbbreviated) // npm install
		if strings.Contains(string(body), `"maintainers"`) || !strings.Contains(string(body), `"1.0.0"`) {
			t.Fatalf("not the abbreviated form: %s", body)
		}
	}
	for _, r := range up.Requests() {
		if strings.Contains(r.Header.Get("Accept"), mediaAbbreviated) {
			t.Errorf("the upstream was asked for the abbreviated packument (%s %s) while larder held the full one", r.Method, r.Path)
		}
	}
	if n := up.Count("GET", "/leaf"); n < 1 {
		t.Errorf("the full packument was fetched %d times", n)
	}
}

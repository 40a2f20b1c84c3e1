package npm

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"testing"

	"github.com/larder-mirror/larder/npm/npmtest"
)

// While the upstream cannot be asked, a version document (npm view, npm
// install name@latest on older clients) offers what the packument offers:
// tags resolve among held versions, and a version not held is not offered.
func TestVersionDocumentsFollowTheHeldViewWhileTheUpstreamIsDown(t *testing.T) {
	t.Parallel()
	up := npmtest.New()
	defer up.Close()
	up.Publish("leaf", "1.0.0", nil)
	up.Publish("leaf", "2.0.0", nil) // latest
	m := newPinMirror(t, up)
	m.get(t, "/npm/leaf", "")
	m.get(t, "/npm/leaf/-/leaf-1.0.0.tgz", "")
	m.waitHeld(t, "leaf/-/leaf-1.0.0.tgz")
	if v := versionOf(t, m.get(t, "/npm/leaf/latest", "")); v != "2.0.0" {
		t.Fatalf("with the upstream up, latest is %s, want the registry's 2.0.0", v)
	}

	up.SetMode(npmtest.ModeRefuse)
	for range 3 {
		m.up.Health().Failure(errors.New("connection refused"))
	}
	if v := versionOf(t, m.get(t, "/npm/leaf/latest", "")); v != "1.0.0" {
		t.Errorf("with the upstream down, latest is %s, want the held 1.0.0", v)
	}
	if v := versionOf(t, m.get(t, "/npm/leaf/1.0.0", "")); v != "1.0.0" {
		t.Errorf("the held version: %s", v)
	}
	resp, err := http.Get(m.srv.URL + "/npm/leaf/2.0.0")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("a version not held, with the upstream down: %d %s, want 404", resp.StatusCode, body)
	}
}

func versionOf(t *testing.T, body []byte) string {
	t.Helper()
	var v struct {
		Version string `json:"version"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	return v.Version
}

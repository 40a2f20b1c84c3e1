package e2e

import (
	"os"
	"testing"

	"github.com/larder-mirror/larder/npm/npmtest"
)

// Access rules apply to cached content exactly as to uncached: the Apache
// recipe larder replaces served cached URLs before its IP check ran.
func TestACachedTarballIsRefusedToAClientOutsideTheAllowList(t *testing.T) {
	up := npmtest.New()
	defer up.Close()
	up.Publish("leaf", "1.0.0", nil)
	l := startLarder(t, npmConfig(up, ""))
	if resp, _ := l.get(t, "/npm/leaf/-/leaf-1.0.0.tgz"); resp.StatusCode != 200 {
		t.Fatalf("warming: %d", resp.StatusCode)
	}
	if err := os.WriteFile(l.config, []byte(`allow = ["10.0.0.0/8"]`+"\n"+npmConfig(up, "")), 0o644); err != nil {
		t.Fatal(err)
	}
	l.stop()
	l.readyPath = "/healthz" // readiness itself is behind the allow-list now
	l.wantReady = 403
	l.start()
	for _, path := range []string{"/npm/leaf/-/leaf-1.0.0.tgz", "/npm/leaf", "/", "/api/v1/registries", "/metrics"} {
		if resp, body := l.get(t, path); resp.StatusCode != 403 {
			t.Errorf("%s from 127.0.0.1 outside allow = [10.0.0.0/8]: %d %s", path, resp.StatusCode, body)
		}
	}
}

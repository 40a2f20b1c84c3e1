package main

import (
	"context"
	"io"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/larder-mirror/larder/storage"
)

func scrape(t *testing.T, a *app) string {
	t.Helper()
	w := httptest.NewRecorder()
	a.handler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(w.Result().Body)
	return string(body)
}

// metricValue is the value of the series that starts with series, or
// fails the test when there is none.
func metricValue(t *testing.T, body, series string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("/metrics has no %s", series)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestMetricsShowWhatTheStoreHoldsItsLimitRoomAndWhatMaintenanceTookAway(t *testing.T) {
	f := newFolder(t)
	cfg := defaultConfig()
	cfg.Data = f.dir
	cfg.MaxCacheSize = "1MiB"
	cfg.Offline = true
	cfg.Registry = []RegistryConfig{{Name: "npm", Kind: "npm", Upstream: "http://127.0.0.1:9/"}, {Name: "pypi", Kind: "pypi", Upstream: "http://127.0.0.1:9/"}}
	if err := cfg.validate("test"); err != nil {
		t.Fatal(err)
	}
	a, err := newApp(context.Background(), cfg, newLogger(cfg, io.Discard), newRequestLog(cfg, io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.close)

	body := scrape(t, a)
	for series, want := range map[string]float64{
		`larder_artifacts{registry="npm"}`:                     1,
		`larder_artifacts{registry="pypi"}`:                    1,
		`larder_cache_limit_bytes`:                             1 << 20,
		`larder_evictions_total`:                               0,
		`larder_quarantines_total`:                             0,
		`larder_cluster_lock_waits`:                            0,
		`larder_upstream_received_bytes_total{registry="npm"}`: 0,
		`larder_pin_conflicts_total{registry="pypi"}`:          0,
	} {
		if got := metricValue(t, body, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	if free := metricValue(t, body, "larder_disk_free_bytes"); free <= 0 {
		t.Errorf("larder_disk_free_bytes = %v, want the room left", free)
	}

	if _, err := a.store.GC(t.Context(), storage.GCOptions{MaxSize: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.store.Quarantine(t.Context(), f.doc.Body); err != nil {
		t.Fatal(err)
	}
	body = scrape(t, a)
	for series, want := range map[string]float64{
		`larder_artifacts{registry="npm"}`: 0,
		`larder_evictions_total`:           2,
		`larder_quarantines_total`:         1,
	} {
		if got := metricValue(t, body, series); got != want {
			t.Errorf("after gc and a quarantine, %s = %v, want %v", series, got, want)
		}
	}
	if strings.Contains(body, "larder_cache_limit_bytes 0") {
		t.Error("the configured limit reads 0")
	}
}

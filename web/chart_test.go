package web

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/larder-mirror/larder/registries"
	"github.com/larder-mirror/larder/storage"
)

// What a registry answered before larder restarted is in the database; a
// new upstream reads it, and the overview and the registry page chart it.
func TestTrafficChartsShowWhatWasAnsweredBeforeARestart(t *testing.T) {
	l := newTestLarder(t)
	ctx := context.Background()
	m := time.Now().Unix() / 60
	if err := l.store.DB.AddTraffic(ctx, []storage.TrafficCount{
		{Registry: "npm", Minute: m - 10, Cached: 3, Upstream: 1},
		{Registry: "npm", Minute: m - 3*24*60, Cached: 5},
	}); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse("http://127.0.0.1:9/npm/")
	up := registries.NewUpstream(l.env, registries.Options{Name: "npm", Upstream: u, ProbeInterval: time.Hour})
	t.Cleanup(up.Close)
	reg := &fakeRegistry{name: "npm", kind: "npm", up: up}
	l.reconfigure(func(c *Config) {
		c.Registries = []registries.Registry{reg}
		c.Now = time.Now
	})

	charts := []string{
		`<svg class="chart" id="chart-day-npm" viewBox="0 0 480 136" role="img" aria-label="Last 24 hours: 3 requests from the cache, 1 from the upstream"`,
		`<svg class="chart" id="chart-week-npm" viewBox="0 0 480 136" role="img" aria-label="Last 7 days: 8 requests from the cache, 1 from the upstream"`,
		`<rect class="cached"`, `<rect class="upstream"`, "from the cache, 1 from the upstream</title>",
	}
	r := l.get(t, "/")
	wantPage(t, r, http.StatusOK, append(charts, "<dt>Hit ratio</dt><dd><strong>75%</strong> last hour")...)
	wantPage(t, l.get(t, "/r/npm"), http.StatusOK, append(charts, "<strong>89%</strong> last 7 days")...)

	var api struct {
		Traffic struct {
			Week   struct{ Cached, Upstream int64 } `json:"last_week"`
			Series map[string]struct {
				Step   string
				Points []struct{ Cached, Upstream int64 }
			}
		}
	}
	if err := json.Unmarshal([]byte(l.get(t, "/api/v1/registries/npm").body), &api); err != nil {
		t.Fatal(err)
	}
	day, week := api.Traffic.Series["day"], api.Traffic.Series["week"]
	if api.Traffic.Week.Cached != 8 || len(day.Points) != 48 || day.Step != "30m0s" || len(week.Points) != 56 ||
		day.Points[47].Cached != 3 || day.Points[47].Upstream != 1 {
		t.Errorf("the API's traffic: %+v", api.Traffic)
	}
}

func TestAChartWithNoTrafficSaysSo(t *testing.T) {
	l := newTestLarder(t, "npm")
	r := l.get(t, "/")
	wantPage(t, r, http.StatusOK, `>no requests</text>`, `aria-label="Last 24 hours: 0 requests from the cache, 0 from the upstream"`)
	if strings.Contains(r.body, "<rect") {
		t.Error("bars drawn for no traffic")
	}
}

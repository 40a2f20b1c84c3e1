package registries

import (
	"context"
	"log/slog"
	"net/url"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/larder-mirror/larder/storage"
)

func TestTrafficSumsWindowsAndDrawsSeries(t *testing.T) {
	t.Parallel()
	var tr Traffic
	now := time.Date(2026, 1, 10, 12, 30, 0, 0, time.UTC)
	tr.add(Hit, now)
	tr.add(Miss, now.Add(-30*time.Minute))
	tr.add(Stale, now.Add(-3*time.Hour))
	tr.add(Hit, now.Add(-6*24*time.Hour))
	tr.add(Hit, now.Add(-8*24*time.Hour)) // older than the ring keeps
	if got := tr.Since(time.Hour, now); got != (TrafficTotals{Cached: 1, Upstream: 1}) {
		t.Errorf("last hour %+v", got)
	}
	if got := tr.Since(24*time.Hour, now); got != (TrafficTotals{Cached: 2, Upstream: 1}) {
		t.Errorf("last day %+v", got)
	}
	if got := tr.Since(TrafficDays*24*time.Hour, now); got != (TrafficTotals{Cached: 3, Upstream: 1}) {
		t.Errorf("last week %+v", got)
	}
	hours := tr.Series(now, time.Hour, 24)
	if len(hours) != 24 || hours[23] != (TrafficTotals{Cached: 1, Upstream: 1}) || hours[20] != (TrafficTotals{Cached: 1}) {
		t.Errorf("hourly series %+v", hours)
	}
}

// The counts go to the database with the hits, and a new upstream of the
// same registry (larder restarted) starts from them.
func TestTrafficSurvivesARestart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	open := func() (*storage.Store, *HitRecorder) {
		store, err := storage.Open(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		return store, NewHitRecorder(store.DB, slog.New(slog.DiscardHandler), time.Hour)
	}
	run := func(record func(u *Upstream)) TrafficTotals {
		store, hits := open()
		env := Env{Store: store, Metrics: NewMetrics(prometheus.NewRegistry()), Renders: NewRenderCache(0), Hits: hits, Log: slog.New(slog.DiscardHandler)}
		u := NewUpstream(env, Options{Name: "npm", Upstream: &url.URL{Scheme: "http", Host: "127.0.0.1:9", Path: "/"}})
		record(u)
		got := u.Traffic().Since(24*time.Hour, time.Now())
		u.Close()
		hits.Close() // flushes
		store.Close()
		return got
	}
	first := run(func(u *Upstream) {
		u.count("document", Hit, true)
		u.count("artifact", Miss, true)
		u.count("artifact", Hit, false) // a warm fill
	})
	if first != (TrafficTotals{Cached: 1, Upstream: 1}) {
		t.Fatalf("before the restart %+v", first)
	}
	second := run(func(u *Upstream) { u.count("artifact", Revalidated, true) })
	if second != (TrafficTotals{Cached: 2, Upstream: 1}) {
		t.Errorf("after the restart %+v, want the counts from before and the new one", second)
	}
	third := run(func(*Upstream) {})
	if third != second {
		t.Errorf("a second restart reads %+v, want %+v: counts written twice or lost", third, second)
	}
}

func TestOldTrafficIsPruned(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	ctx := context.Background()
	old := time.Now().Unix()/60 - (TrafficDays+2)*24*60
	recent := time.Now().Unix()/60 - 60
	if err := e.Store.DB.AddTraffic(ctx, []storage.TrafficCount{{Registry: "npm", Minute: old, Cached: 5}, {Registry: "npm", Minute: recent, Upstream: 2}}); err != nil {
		t.Fatal(err)
	}
	e.Hits.Flush(ctx)
	rows, err := e.Store.DB.Traffic(ctx, "npm", 0)
	if err != nil || len(rows) != 1 || rows[0].Minute != recent {
		t.Errorf("after pruning: %+v, %v", rows, err)
	}
}

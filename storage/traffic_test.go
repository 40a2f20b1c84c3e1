package storage

import (
	"context"
	"reflect"
	"testing"
)

func TestTrafficAddsUpByMinuteAndPrunesTheOld(t *testing.T) {
	d := newTestDB(t)
	ctx := context.Background()
	for _, batch := range [][]TrafficCount{
		{{Registry: "npm", Minute: 100, Cached: 2}, {Registry: "npm", Minute: 101, Upstream: 1}, {Registry: "pypi", Minute: 100, Cached: 7}},
		{{Registry: "npm", Minute: 100, Cached: 3, Upstream: 1}},
	} {
		if err := d.AddTraffic(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	got, err := d.Traffic(ctx, "npm", 0)
	want := []TrafficCount{{Registry: "npm", Minute: 100, Cached: 5, Upstream: 1}, {Registry: "npm", Minute: 101, Upstream: 1}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("npm: %+v, %v; want %+v", got, err, want)
	}
	if got, _ := d.Traffic(ctx, "npm", 101); len(got) != 1 {
		t.Errorf("from minute 101: %+v", got)
	}
	if err := d.PruneTraffic(ctx, 101); err != nil {
		t.Fatal(err)
	}
	if got, _ := d.Traffic(ctx, "pypi", 0); len(got) != 0 {
		t.Errorf("pypi after pruning: %+v", got)
	}
}

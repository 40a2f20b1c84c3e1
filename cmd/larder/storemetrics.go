package main

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/larder-mirror/larder/storage"
)

// registerStoreMetrics exports what an operator watches of the data folder:
// what it holds, the limit it is kept under, the room left, and what
// maintenance took away. Each series exists from the start, at 0 if need
// be, so that a rate or an alert is defined before the first event.
func registerStoreMetrics(reg prometheus.Registerer, store *storage.Store, registries []string, cacheLimit int64) {
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "larder_blob_store_bytes", Help: "Bytes of blobs the database points at.",
		}, func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			n, _ := store.BlobBytes(ctx)
			return float64(n)
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "larder_cache_limit_bytes", Help: "max_cache_size: the bytes of artifacts larder evicts down to; 0 when there is no limit.",
		}, func() float64 { return float64(cacheLimit) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "larder_disk_free_bytes", Help: "Space free to larder on the volume of the data folder (the lesser, when the blob folder is another volume); -1 when it cannot be read.",
		}, func() float64 {
			free, err := store.FreeSpace()
			if err != nil {
				return -1
			}
			return float64(free)
		}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "larder_evictions_total", Help: "Artifacts whose bytes were evicted (max_cache_size, or larder gc through this larder).",
		}, func() float64 { return float64(store.Evicted()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "larder_quarantines_total", Help: "Blobs set aside as corrupt (found wrong while serving, or by larder verify through this larder).",
		}, func() float64 { return float64(store.Quarantined()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "larder_cluster_lock_waits", Help: "Fills and gc waiting now for a cluster lock another holder has (nodes on PostgreSQL; 0 with SQLite).",
		}, func() float64 { return float64(store.ClusterLocksAwaited()) }),
		artifactCount{store: store, registries: registries, desc: prometheus.NewDesc("larder_artifacts",
			"Artifacts whose bytes larder holds, by registry.", []string{"registry"}, nil)},
	)
}

// artifactCount reads the held artifacts of each registry at each scrape
// (a sum over the registry's packages).
type artifactCount struct {
	store      *storage.Store
	registries []string
	desc       *prometheus.Desc
}

func (c artifactCount) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c artifactCount) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, name := range c.registries {
		t, err := c.store.RegistryTotals(ctx, name)
		if err != nil {
			// Absent from this scrape, rather than an invalid metric that
			// fails the whole scrape, and with it the series that would
			// show why the database is slow.
			continue
		}
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(t.Files), name)
	}
}

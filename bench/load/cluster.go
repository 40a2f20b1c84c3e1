package main

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/larder-mirror/larder/storage/backendtest"
)

// startNodes starts the larder the clients load: one node on SQLite and its
// data folder, or, for n > 1, n nodes on one PostgreSQL database and one S3
// bucket (SeaweedFS) behind nginx, as a cluster is deployed, every server
// started here on 127.0.0.1 (storage/backendtest starts them). base is
// where the clients connect; stop ends everything started, also when err
// is not nil.
func startNodes(bin, tmp, registries string, n int) (nodes []*proc, base string, stop func(), err error) {
	var stops []func()
	stop = func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	if n <= 1 {
		p, err := startLarder(bin, tmp, registries)
		if err != nil {
			return nil, "", stop, err
		}
		stops = append(stops, p.stop)
		return []*proc{p}, p.url, stop, nil
	}

	stops = append(stops, backendtest.Stop) // PostgreSQL and SeaweedFS, last
	database, err := backendtest.CreateDatabase()
	if err != nil {
		return nil, "", stop, err
	}
	bucket, err := backendtest.CreateBucket(context.Background())
	if err != nil {
		return nil, "", stop, err
	}
	ports, err := portsOf(database, bucket)
	if err != nil {
		return nil, "", stop, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", stop, err
	}
	lbAddr := ln.Addr().String()
	ln.Close()
	shared := fmt.Sprintf("database = %q\nblob_store = %q\npublic_url = %q\n", database, bucket, "http://"+lbAddr) + registries
	var addrs []string
	for i := range n {
		dir := filepath.Join(tmp, fmt.Sprintf("node%d", i+1))
		if err := os.Mkdir(dir, 0o755); err != nil {
			return nil, "", stop, err
		}
		p, err := startLarder(bin, dir, shared)
		if err != nil {
			return nil, "", stop, fmt.Errorf("node %d: %w", i+1, err)
		}
		stops = append(stops, p.stop)
		p.backends = &ports
		nodes = append(nodes, p)
		addrs = append(addrs, strings.TrimPrefix(p.url, "http://"))
	}
	lb, err := backendtest.StartNginx(lbAddr, addrs)
	if err != nil {
		return nil, "", stop, err
	}
	stops = append(stops, lb.Stop)
	return nodes, lb.URL, stop, nil
}

// portsOf reads the ports of the database URL and of the bucket's endpoint.
func portsOf(database, bucket string) (backendPorts, error) {
	var ports backendPorts
	db, err := url.Parse(database)
	if err != nil {
		return ports, err
	}
	b, err := url.Parse(bucket)
	if err != nil {
		return ports, err
	}
	s3, err := url.Parse(b.Query().Get("endpoint"))
	if err != nil {
		return ports, err
	}
	if ports.db, err = strconv.Atoi(db.Port()); err != nil {
		return ports, fmt.Errorf("database URL %s: %w", database, err)
	}
	if ports.s3, err = strconv.Atoi(s3.Port()); err != nil {
		return ports, fmt.Errorf("bucket endpoint %s: %w", bucket, err)
	}
	return ports, nil
}

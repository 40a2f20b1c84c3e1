package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/larder-mirror/larder/registries"
	"github.com/larder-mirror/larder/storage"
)

// archiveVet mounts the configuration's registries, offline, so that an
// import holds an archive's rows to their rules (registries.VetArchive):
// the same hosts and declared digests a fetch of their documents would
// accept. close releases them.
func archiveVet(cfg Config, store *storage.Store, log *slog.Logger) (vet func(context.Context, *storage.Store, *storage.Manifest) ([]storage.ImportNote, error), close func(), err error) {
	env := registries.Env{
		Store:   store,
		Metrics: registries.NewMetrics(prometheus.NewRegistry()),
		Renders: registries.NewRenderCache(0),
		Log:     log,
	}
	var ups []*registries.Upstream
	close = func() {
		for _, up := range ups {
			up.Close()
		}
	}
	var regs []registries.Registry
	for _, rc := range cfg.Registry {
		opts, err := registryOptions(cfg, rc)
		if err != nil {
			close()
			return nil, nil, err
		}
		opts.Offline = true // an import never contacts an upstream
		up := registries.NewUpstream(env, opts)
		ups = append(ups, up)
		r, err := mountRegistry(rc, up, cfg.PublicURL)
		if err != nil {
			close()
			return nil, nil, err
		}
		regs = append(regs, r)
	}
	return registries.VetArchive(regs), close, nil
}

// minKeySize is the shortest signing secret accepted: an HMAC key is only
// as strong as it is long.
const minKeySize = 16

// readKey reads a signing secret (surrounding white space trimmed, so that
// `head -c 32 /dev/urandom | base64 > larder.key` makes one); "" is no key.
func readKey(path string) ([]byte, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--key: %w", err)
	}
	b = bytes.TrimSpace(b)
	if len(b) < minKeySize {
		return nil, fmt.Errorf("--key %s: %d bytes; a key is at least %d (head -c 32 /dev/urandom | base64 > %s makes one)", path, len(b), minKeySize, path)
	}
	return b, nil
}

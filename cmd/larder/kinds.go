package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/larder-mirror/larder/cargo"
	"github.com/larder-mirror/larder/gomod"
	"github.com/larder-mirror/larder/maven"
	"github.com/larder-mirror/larder/npm"
	"github.com/larder-mirror/larder/pypi"
	"github.com/larder-mirror/larder/registries"
	"github.com/larder-mirror/larder/rubygems"
)

// kinds are the ecosystems larder can mount: the one table the
// configuration, serve, import, warm, export and the usage text are wired
// from. Those mounted by default are mounted in this order.
var kinds = []registries.Kind{npm.Kind, pypi.Kind, gomod.Kind, cargo.Kind, rubygems.Kind, maven.Kind}

func kindNamed(name string) (registries.Kind, bool) {
	for _, k := range kinds {
		if k.Name == name {
			return k, true
		}
	}
	return registries.Kind{}, false
}

func knownKinds() string {
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = k.Name
	}
	return strings.Join(names, ", ")
}

// kindKeyOwners maps every kind's own [[registry]] key to the kinds that
// accept it.
func kindKeyOwners() map[string][]string {
	owners := map[string][]string{}
	for _, k := range kinds {
		for _, key := range k.Keys {
			owners[key] = append(owners[key], k.Name)
		}
	}
	return owners
}

// kindDefaults is a [[registry]] of a kind with its defaults.
func kindDefaults(k registries.Kind) RegistryConfig {
	mount := k.Mount
	if mount == "" {
		mount = k.Name
	}
	return RegistryConfig{Name: mount, Kind: k.Name, Upstream: k.Upstream, MetadataTTL: shortDuration(k.MetadataTTL)}
}

// shortDuration writes a duration as a configuration would: 5m, not 5m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// lockfileFormats lists every lockfile format the kinds read.
func lockfileFormats() []string {
	var names []string
	for _, k := range kinds {
		for _, r := range k.Lockfiles {
			names = append(names, r.Format())
		}
	}
	return names
}

// mountRegistry mounts a registry of rc's kind on up.
func mountRegistry(rc RegistryConfig, up *registries.Upstream, publicURL string) (registries.Registry, error) {
	k, ok := kindNamed(rc.Kind)
	if !ok {
		return nil, fmt.Errorf("registry %s: unknown kind %q (known: %s)", rc.Name, rc.Kind, knownKinds())
	}
	var opts any
	if k.Decode != nil {
		var err error
		if opts, err = k.Decode(rc.Keys, &registries.Options{}); err != nil {
			return nil, fmt.Errorf("registry %s: %w", rc.Name, err)
		}
	}
	return k.New(up, publicURL, opts), nil
}

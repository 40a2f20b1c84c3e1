package main

import (
	"github.com/larder-mirror/larder/npm"
	"github.com/larder-mirror/larder/pypi"
	"github.com/larder-mirror/larder/registries"
)

// mounters make a mounted registry of each kind larder knows on its
// upstream link: the one table serve and import wire kinds from.
var mounters = map[string]func(up *registries.Upstream, publicURL string) registries.Registry{
	"npm":  func(up *registries.Upstream, publicURL string) registries.Registry { return npm.New(up, publicURL) },
	"pypi": func(up *registries.Upstream, publicURL string) registries.Registry { return pypi.New(up, publicURL) },
}

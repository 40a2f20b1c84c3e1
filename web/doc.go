// Package web is larder's user interface: server-rendered pages
// (html/template, assets embedded, no front-end build) and the JSON API under
// /api/v1/ that the pages are built from.
//
// It reads what larder holds and never changes it. It knows registries only
// through registries.Registry (name, kind, upstream, client set-up, Describe)
// and the catalog in storage; it must never import an ecosystem (npm, pypi):
// an ecosystem describes itself through that interface.
//
//	/                                     overview: registries, upstream health, totals, hit ratios,
//	                                      24-hour and 7-day traffic charts (chart.go, inline SVG), disk free
//	/r/{registry}?q=&match=&sort=&dir=&page=   a registry's packages, searched, sorted, paged
//	/r/{registry}/p/{name...}?v=&cached=  a package: what it says of itself, a version's install
//	                                      command and dependencies, versions (held first), files,
//	                                      dist-tags or yanked state, the README (readme.go sanitises it)
//	/setup                                client set-up snippets for every registry
//	/api/v1/registries                    the same as JSON, and
//	/api/v1/registries/{registry}
//	/api/v1/registries/{registry}/packages?q=&match=&sort=&dir=&page=&per_page=
//	/api/v1/registries/{registry}/packages/{name...}
//	/static/…                             CSS, JS and icon, embedded
//
// Every other path under the handler is a 404 page (JSON under /api/).
package web

// Package cargo is the Cargo ecosystem: a sparse registry
// (https://doc.rust-lang.org/cargo/reference/registry-index.html#sparse-protocol)
// mounted at /cargo/ and built on the registries seam only.
//
// What it serves, below the mount:
//
//	config.json                          larder's own: dl points at larder, so cargo downloads through it
//	1/{n}, 2/{n}, 3/{c}/{n}, {ab}/{cd}/{n} index file (document, TTL): one JSON line per version
//	api/v1/crates/{crate}/{version}/download  the .crate (artifact, immutable)
//
// Index files are the upstream's bytes. cargo checks nothing in a line but
// reads every field of it (the cksum above all), so larder never edits a
// line: it may only leave lines out. While the upstream cannot be asked
// (offline, down), an index file lists only the versions whose .crate
// larder holds, so that cargo resolves to what it can download.
//
// Index paths are those of the registry-index reference: a name of one or
// two characters under 1/ or 2/, of three under 3/{first character}/, any
// longer one under {first two}/{next two}/, all lower case. The stored
// document's key is the lower-case name.
//
// Downloads: each line's .crate is announced when its index file is
// fetched, with the upstream URL the registry's download_url template
// gives (the markers of config.json's dl: {crate}, {version}, {prefix},
// {lowerprefix}, {sha256-checksum}) and the line's cksum as the sha256 the
// bytes must have; nothing is stored unless they do.
//
// 404, 410 and 451 mean "no such crate" to cargo; it retries a 5xx. A path
// larder will not serve is a 404 that says why.
//
// cargo imports registries, storage and the TOML reader (Cargo.lock);
// never another ecosystem.
package cargo

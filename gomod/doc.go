// Package gomod is the Go module ecosystem: a module proxy (the GOPROXY
// protocol, https://go.dev/ref/mod#goproxy-protocol) and a mirror of the
// checksum database (https://go.dev/ref/mod#checksum-database), mounted
// at /go/ and built on the registries seam only.
//
// What it serves, below the mount:
//
//	$module/@v/list            document (TTL): the versions, one a line; offline, the held ones
//	$module/@latest            document (TTL): a version's .info; offline, the newest held one
//	$module/@v/$query.info     document (TTL): a query (a branch, a commit) resolved upstream
//	$module/@v/$version.info   artifact (immutable): {"Version", "Time"}
//	$module/@v/$version.mod    artifact (immutable): go.mod, checked against its h1: hash
//	$module/@v/$version.zip    artifact (immutable): the module zip, checked against its h1: hash
//	sumdb/$db/supported        200, answered by larder: go then uses the mirror below
//	sumdb/$db/latest           document (TTL): the signed tree head
//	sumdb/$db/lookup/$m@$v     document (TTL): a record and the tree it is in
//	sumdb/$db/tile/$H/$L/$K    full tile: cached for good once held (tiles never change)
//	sumdb/$db/tile/…/.p/$W     partial tile: document (TTL)
//
// Module paths and versions are case-encoded ("!" + lower case,
// golang.org/x/mod/module.EscapePath); artifacts are stored under the
// encoded request path ("github.com/!burnt!sushi/toml/@v/v1.6.0.zip").
//
// Verification: before a version's files are fetched, larder looks the
// version up in the checksum database through its own mirror of it, with
// golang.org/x/mod/sumdb's client (the signed tree head checked against
// the configured key, the record proven in the tree with tiles), and
// records the h1: hashes as what the .zip and .mod must hash to; the
// kind's Verify hook checks them (dirhash.HashZip, dirhash.Hash1 over
// go.mod) before anything is kept. Modules matching the private patterns
// skip the database and fall under the registry's unverifiable policy.
// The lookups and tiles larder fetched to verify a module are the ones the
// go command asks for to verify it too: they are held, so go verifies
// through larder offline as well.
//
// 404 and 410 mean "not here" to the go command, which then tries the next
// GOPROXY entry; anything else stops it. A path larder will not serve is a
// 404 that says why, never a 5xx.
//
// gomod imports registries, storage and golang.org/x/mod; never another
// ecosystem.
package gomod

// Package pypi mirrors a Python package index through the simple repository
// API: project pages in PEP 503 HTML and PEP 691 JSON, the files they link to
// (fetched from the index's separate file host and served under /files/),
// PEP 658 metadata files, and the legacy JSON API that some tools read. It
// owns PEP 503 names, the page parsers and renderers, and link rewriting; the
// cache policy, downloads and storage come from package registries.
//
// Specifications: PEP 503 (simple API), PEP 592 (yanked), PEP 629 (versioning),
// PEP 658 and PEP 714 (core metadata), PEP 691 (JSON), PEP 700 (versions, size,
// upload-time), and https://packaging.python.org/en/latest/specifications/simple-repository-api/.
package pypi

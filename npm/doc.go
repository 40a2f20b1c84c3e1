// Package npm mirrors an npm registry: packuments (full and abbreviated),
// version documents, tarballs, and the few endpoints clients call around an
// install (ping, keys, search, audit). It owns npm's names, its integrity
// notation and the rewriting of tarball URLs; the cache policy, downloads and
// storage come from package registries.
//
// Reference: the npm registry API
// (https://github.com/npm/registry/blob/main/docs/REGISTRY-API.md) and the
// abbreviated metadata format
// (https://github.com/npm/registry/blob/main/docs/responses/package-metadata.md).
package npm

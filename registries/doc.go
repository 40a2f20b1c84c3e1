// Package registries is what every ecosystem shares: the Registry interface
// an ecosystem implements, the upstream client (time-outs, proxies, health),
// the cache policy for mutable documents (TTL, conditional revalidation,
// stale-on-error, single-flight), the download-once path for immutable
// artifacts (verified, content-addressed, streamed while they arrive), and
// the HTTP plumbing to serve both.
//
// It never imports an ecosystem: npm, pypi and the rest plug into it.
package registries

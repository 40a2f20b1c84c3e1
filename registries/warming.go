package registries

import "context"

// WarmHeader marks a request that fills the cache for later installs
// (`larder warm`) rather than serving a client: it fetches and stores as
// any request does, but counts no hit, sets no "last served" and adds
// nothing to the traffic the UI charts. Any client may send it; all it
// can do with it is leave its own use uncounted.
const WarmHeader = "X-Larder-Warm"

type notServedKey struct{}

// NotServed marks ctx as a warm fill: what is fetched under it is not
// counted as served.
func NotServed(ctx context.Context) context.Context {
	return context.WithValue(ctx, notServedKey{}, true)
}

// Served reports whether ctx serves a client (not NotServed).
func Served(ctx context.Context) bool {
	v, _ := ctx.Value(notServedKey{}).(bool)
	return !v
}

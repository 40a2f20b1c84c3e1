// Package front is larder's HTTP front: it turns connections into plain
// requests and sends bytes or a Sendable blob back. It serves plain HTTP/1.1
// with fasthttp (Server), and runs the same middleware around a net/http
// handler for Go's own server (NetHTTP, for TLS and HTTP/2).
//
// Every request, under either engine, goes through one Chain of
// Middleware, decided from the request line and headers (Admit) and told
// of the answer (Answered): a Quick answer, given on the front's own terms
// without a handler, goes through it as any other, so nothing added to the
// chain can miss the fast path. Bodies a Quick answer sends are bytes, or a
// Sendable that sends itself to the connection (the local blob store's
// files do so by sendfile); the front corks the connection around it.
//
// A handler sees, under the front, what net/http's server would hand it
// (frontWriter, Server.request): the same request, the same response
// framing, and a context cancelled when the client hangs up
// (awaitHandler) or the handler returns.
//
// It knows no ecosystem, no storage layout and no larder route: it imports
// the standard library and fasthttp only.
package front

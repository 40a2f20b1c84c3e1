package registries

import "net"

// Sendable is a blob a Quick hands the HTTP front to send, from where it
// lies: the store decides how its bytes reach the connection (the local
// folder by sendfile), and registries knows neither the descriptor nor
// the socket. The front's own Sendable has this very shape;
// storage.SharedBlob has it too.
type Sendable interface {
	Size() int64
	// SendTo writes the n bytes from off to conn, straight, and reports
	// how many it wrote.
	SendTo(conn net.Conn, off, n int64) (int64, error)
	// Release ends this use of the blob.
	Release()
}

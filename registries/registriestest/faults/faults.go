// Package faults names the ways a fake upstream can fail that every
// ecosystem's fake shares: refuse connections, hang, answer 500, cut an
// artifact short, serve an artifact whose bytes are not the ones its
// documents declare. The conformance suite (registriestest) asks an
// ecosystem's fake for them by these names.
//
// It imports only the standard library, so that any fake upstream can use
// it.
package faults

import "strconv"

// Mode is a fault a fake upstream plays. The zero value is Normal.
type Mode int

const (
	// Normal answers like the real registry.
	Normal Mode = iota
	// Refuse closes the listeners and every open connection: new
	// connections are refused. Leaving it listens again on the same
	// addresses.
	Refuse
	// Hang accepts connections and reads requests but answers none of them
	// until the mode changes (they are then answered in the new mode) or
	// the fake is closed.
	Hang
	// Error500 answers every request 500 Internal Server Error.
	Error500
	// Truncate sends artifacts (GET) with their full Content-Length but
	// only the first half of the body, then closes the connection.
	// Documents are answered normally.
	Truncate
	// WrongDigest serves artifacts whose bytes differ from the digests
	// their documents declare. Documents are answered normally.
	WrongDigest
)

func (m Mode) String() string {
	switch m {
	case Normal:
		return "normal"
	case Refuse:
		return "refuse"
	case Hang:
		return "hang"
	case Error500:
		return "500"
	case Truncate:
		return "truncate"
	case WrongDigest:
		return "wrong-digest"
	}
	return "Mode(" + strconv.Itoa(int(m)) + ")"
}

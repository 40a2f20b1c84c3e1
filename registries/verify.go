package registries

import (
	"context"
	"fmt"
	"io"

	"github.com/larder-mirror/larder/storage"
)

// A Verifier checks an artifact's bytes as they arrive from the upstream,
// before anything is kept.
type Verifier interface {
	io.Writer
	// Check is called after the last byte: nil, or an error wrapping
	// ErrIntegrity. Nothing is stored unless it is nil.
	Check() error
	// Unchecked reports that there was nothing to check the bytes against,
	// so Check passes whatever they are; the registry's Unverifiable
	// policy then decides.
	Unchecked() bool
}

// A Verifier that holds resources while it reads (a spooled copy of an
// archive that can only be read whole) also implements io.Closer: it is
// closed when the download ends, whether or not Check was called.

// VerifyFunc makes the Verifier of an artifact about to be downloaded, from
// what its document declared (the row's Integrity) or from what else the
// ecosystem knows: a checksum database, a side file. It is the ecosystem's
// hook; an error refuses the download.
type VerifyFunc func(ctx context.Context, a storage.Artifact) (Verifier, error)

// VerifyDeclared checks the digests the artifact's document declared, in
// SRI notation: npm's dist.integrity and shasum, PyPI's hashes. It is the
// default hook.
func VerifyDeclared(_ context.Context, a storage.Artifact) (Verifier, error) {
	v, err := newVerifier(Integrity(a.Integrity))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrIntegrity, err)
	}
	return v, nil
}

// What a registry does with an artifact it has nothing to check against
// (Options.Unverifiable).
const (
	// PinFirstSeen stores the first bytes it is given and pins their
	// sha256, against which every later declaration is held as for any
	// other artifact. It is said once per artifact, at WARN.
	PinFirstSeen = "pin-first-seen"
	// RefuseUnverifiable refuses the download: nothing is stored and the
	// client gets a 502 that says why.
	RefuseUnverifiable = "refuse"
)

// UnverifiablePolicies are the values Options.Unverifiable takes.
var UnverifiablePolicies = []string{PinFirstSeen, RefuseUnverifiable}

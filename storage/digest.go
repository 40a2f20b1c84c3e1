package storage

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// Digest is the lower-case hex SHA-256 of a blob's bytes. The zero value
// means "no digest" (not yet known, or no expectation).
type Digest string

// ParseDigest accepts 64 hex digits, in either case.
func ParseDigest(s string) (Digest, error) {
	if len(s) != sha256.Size*2 {
		return "", fmt.Errorf("digest %q: want %d hex digits", s, sha256.Size*2)
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return "", fmt.Errorf("digest %q: %w", s, err)
	}
	return Digest(hex.EncodeToString(b)), nil
}

// DigestOf hashes b.
func DigestOf(b []byte) Digest {
	sum := sha256.Sum256(b)
	return Digest(hex.EncodeToString(sum[:]))
}

func (d Digest) String() string { return string(d) }

// valid reports whether d is well formed; only such digests ever reach a path.
func (d Digest) valid() bool {
	if len(d) != sha256.Size*2 {
		return false
	}
	for i := 0; i < len(d); i++ {
		c := d[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

package registries

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"testing"
)

func TestSRIFromHex(t *testing.T) {
	t.Parallel()
	abc1 := sha1.Sum([]byte("abc"))
	abc256 := sha256.Sum256([]byte("abc"))
	tests := []struct {
		name string
		algo string
		hex  string
		want Integrity
	}{
		{"npm's sha1 shasum becomes an SRI token", "sha1", hex.EncodeToString(abc1[:]),
			Integrity("sha1-" + base64.StdEncoding.EncodeToString(abc1[:]))},
		{"PyPI's sha256 becomes an SRI token", "sha256", hex.EncodeToString(abc256[:]),
			Integrity("sha256-ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=")},
		{"upper-case hex is accepted", "sha1", "A9993E364706816ABA3E25717850C26C9CD0D89D",
			"sha1-qZk+NkcGgWq6PiVxeFDCbJzQ2J0="},
		{"invalid hex gives nothing", "sha1", "not-hex", ""},
		{"odd-length hex gives nothing", "sha1", "abc", ""},
		{"empty hex gives nothing", "sha1", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SRIFromHex(tt.algo, tt.hex); got != tt.want {
				t.Errorf("SRIFromHex(%q, %q) = %q, want %q", tt.algo, tt.hex, got, tt.want)
			}
		})
	}
}

func TestIntegrityJoin(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		base Integrity
		more []Integrity
		want Integrity
	}{
		{"two tokens are separated by a space", "sha512-a", []Integrity{"sha1-b"}, "sha512-a sha1-b"},
		{"empty declarations are skipped", "", []Integrity{"sha1-b", "", "  "}, "sha1-b"},
		{"surrounding spaces are trimmed", " sha512-a ", []Integrity{" sha1-b"}, "sha512-a sha1-b"},
		{"nothing joined with nothing is nothing", "", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.base.Join(tt.more...); got != tt.want {
				t.Errorf("%q.Join(%q) = %q, want %q", tt.base, tt.more, got, tt.want)
			}
		})
	}
}

func TestVerifier(t *testing.T) {
	t.Parallel()
	data := []byte("the bytes of a tarball")
	other := []byte("the bytes of another tarball")
	s512 := sha512.Sum512(data)
	s384 := sha512.Sum384(data)
	s256 := sha256.Sum256(data)
	otherSHA1 := sha1.Sum(other)
	b64 := base64.StdEncoding.EncodeToString
	tests := []struct {
		name      string
		integrity Integrity
		wantErr   error // nil: accepted
	}{
		{"matching sha512 and sha1 are accepted", Integrity(integrityOf(data)), nil},
		{"a matching sha384 is accepted", Integrity("sha384-" + b64(s384[:])), nil},
		{"a matching sha256 from PyPI's hex is accepted", SRIFromHex("sha256", hex.EncodeToString(s256[:])), nil},
		{"a mismatching sha512 and sha1 are rejected", Integrity(integrityOf(other)), ErrIntegrity},
		{"a matching sha512 does not excuse a mismatching sha1",
			Integrity("sha512-" + b64(s512[:]) + " sha1-" + b64(otherSHA1[:])), ErrIntegrity},
		{"an empty sha512 is a mismatch", "sha512-", ErrIntegrity},
		{"unknown algorithms are ignored", Integrity("md5-AAAA sha3-BBBB"), nil},
		{"an unknown algorithm beside a matching one is ignored", Integrity("md5-AAAA sha512-" + b64(s512[:])), nil},
		{"options after ? are ignored", Integrity("sha512-" + b64(s512[:]) + "?foo"), nil},
		{"no declaration accepts anything", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := newVerifier(tt.integrity)
			if err != nil {
				t.Fatalf("newVerifier(%q): %v", tt.integrity, err)
			}
			v.Write(data[:5])
			v.Write(data[5:])
			err = v.Check()
			switch {
			case tt.wantErr == nil && err != nil:
				t.Errorf("check() = %v, want accepted", err)
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Errorf("check() = %v, want an error wrapping %v", err, tt.wantErr)
			}
		})
	}
}

func TestVerifierRejectsMalformedDeclarations(t *testing.T) {
	t.Parallel()
	for _, in := range []Integrity{
		"sha512-!!!not base64!!!",
		"sha1-qZk+NkcGgWq6PiVxeFDCbJzQ2J0",   // missing padding
		"sha512qZk+NkcGgWq6PiVxeFDCbJzQ2J0=", // no algorithm
	} {
		if _, err := newVerifier(in); err == nil {
			t.Errorf("newVerifier(%q) accepted a malformed declaration", in)
		}
	}
}

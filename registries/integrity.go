package registries

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"strings"
)

// Integrity is a set of declared digests in Subresource Integrity notation
// (W3C SRI, as npm's dist.integrity): "sha512-BASE64 sha1-BASE64". Ecosystems
// turn their own notations into it (npm's hex shasum, PyPI's #sha256=hex).
type Integrity string

// SRIFromHex turns a hex digest such as npm's shasum or PyPI's sha256 into
// an SRI token; an invalid hex string gives "".
func SRIFromHex(algo, hexsum string) Integrity {
	b, err := hex.DecodeString(hexsum)
	if err != nil || len(b) == 0 {
		return ""
	}
	return Integrity(algo + "-" + base64.StdEncoding.EncodeToString(b))
}

// Join combines declarations, skipping empty ones.
func (i Integrity) Join(more ...Integrity) Integrity {
	parts := []string{}
	for _, x := range append([]Integrity{i}, more...) {
		if s := strings.TrimSpace(string(x)); s != "" {
			parts = append(parts, s)
		}
	}
	return Integrity(strings.Join(parts, " "))
}

type declared struct {
	algo string
	sum  []byte
}

func (d declared) sri() Integrity {
	return Integrity(d.algo + "-" + base64.StdEncoding.EncodeToString(d.sum))
}

// parse keeps the tokens whose algorithm larder can check. SRI allows
// options after "?"; they are ignored, as browsers do.
func (i Integrity) parse() ([]declared, error) {
	var out []declared
	for _, tok := range strings.Fields(string(i)) {
		algo, b64, ok := strings.Cut(tok, "-")
		if !ok {
			return nil, fmt.Errorf("integrity %q: no algorithm", tok)
		}
		b64, _, _ = strings.Cut(b64, "?")
		if newHash(algo) == nil {
			continue
		}
		sum, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			return nil, fmt.Errorf("integrity %q: %w", tok, err)
		}
		out = append(out, declared{algo: algo, sum: sum})
	}
	return out, nil
}

func newHash(algo string) hash.Hash {
	switch algo {
	case "sha1":
		return sha1.New()
	case "sha256":
		return sha256.New()
	case "sha384":
		return sha512.New384()
	case "sha512":
		return sha512.New()
	}
	return nil
}

// verifier computes, in one pass, every digest a declaration names.
type verifier struct {
	want   []declared
	hashes map[string]hash.Hash
}

func newVerifier(i Integrity) (*verifier, error) {
	want, err := i.parse()
	if err != nil {
		return nil, err
	}
	return verifierOf(want), nil
}

func verifierOf(want []declared) *verifier {
	v := &verifier{want: want, hashes: map[string]hash.Hash{}}
	for _, d := range want {
		if v.hashes[d.algo] == nil {
			v.hashes[d.algo] = newHash(d.algo)
		}
	}
	return v
}

// Unchecked reports whether the declaration named nothing larder can
// compute, so that Check passes whatever the bytes.
func (v *verifier) Unchecked() bool { return len(v.want) == 0 }

func (v *verifier) Write(p []byte) (int, error) {
	for _, h := range v.hashes {
		h.Write(p)
	}
	return len(p), nil
}

// Check fails unless every declared digest matches.
func (v *verifier) Check() error {
	sums := map[string][]byte{}
	for algo, h := range v.hashes {
		sums[algo] = h.Sum(nil)
	}
	for _, d := range v.want {
		if got := sums[d.algo]; string(got) != string(d.sum) {
			return fmt.Errorf("%w: %s declared %s, got %s", ErrIntegrity, d.algo,
				base64.StdEncoding.EncodeToString(d.sum), base64.StdEncoding.EncodeToString(got))
		}
	}
	return nil
}

// Check reads r to the end and reports whether its bytes match every digest
// the declaration names that larder can compute (an error wrapping
// ErrIntegrity if not). It returns the number of bytes read.
func (i Integrity) Check(r io.Reader) (int64, error) {
	v, err := newVerifier(i)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(v, r)
	if err != nil {
		return n, err
	}
	return n, v.Check()
}

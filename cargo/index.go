package cargo

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/larder-mirror/larder/registries"
	"github.com/larder-mirror/larder/storage"
)

// indexLine is what larder reads of one line of an index file
// (https://doc.rust-lang.org/cargo/reference/registry-index.html#json-schema).
// The line itself is served as it came.
type indexLine struct {
	Name   string     `json:"name"`
	Vers   string     `json:"vers"`
	Cksum  string     `json:"cksum"`
	Yanked bool       `json:"yanked"`
	Deps   []indexDep `json:"deps"`
	// Pubtime is when the version was published (cargo ≥ 1.94); "" when
	// the registry does not say.
	Pubtime string `json:"pubtime"`
}

type indexDep struct {
	Name     string  `json:"name"`
	Req      string  `json:"req"`
	Optional bool    `json:"optional"`
	Target   *string `json:"target"`
	Kind     string  `json:"kind"`
	Package  string  `json:"package"`
}

// line is one line of an index file: its bytes, newline included, and
// what they say.
type line struct {
	raw []byte
	indexLine
}

// parseIndex reads an index file of crate (its lower-case name). Every
// non-empty line must be a JSON object naming crate and a version; a line
// that names another crate is refused, as cargo would refuse the file: it
// could otherwise announce another crate's downloads.
func parseIndex(body []byte, crate string) ([]line, error) {
	var lines []line
	for n := 1; len(body) > 0; n++ {
		raw := body
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			raw = body[:i+1]
		}
		body = body[len(raw):]
		if len(bytes.TrimSpace(raw)) == 0 {
			continue
		}
		var l indexLine
		if err := json.Unmarshal(raw, &l); err != nil {
			return nil, fmt.Errorf("line %d: not a JSON object: %v", n, err)
		}
		if !strings.EqualFold(l.Name, crate) || checkName(l.Name) != nil {
			return nil, fmt.Errorf("line %d: names crate %q in the index file of %q", n, l.Name, crate)
		}
		if err := checkVersion(l.Vers); err != nil {
			return nil, fmt.Errorf("line %d: %v", n, err)
		}
		if l.Cksum != "" {
			if b, err := hex.DecodeString(l.Cksum); err != nil || len(b) != 32 {
				return nil, fmt.Errorf("line %d: cksum %q is not a sha256 in hex", n, l.Cksum)
			}
		}
		lines = append(lines, line{raw: raw, indexLine: l})
	}
	return lines, nil
}

// path is where the line's .crate is served and kept.
func (l line) path() string { return downloadPath(l.Name, l.Vers) }

// artifact is the row announcing the line's .crate: where it lives
// upstream and the sha256 its bytes must have. A line without cksum is
// announced without one, for the unverifiable policy.
func (l line) artifact(registry, download string) storage.Artifact {
	a := storage.Artifact{Registry: registry, Path: l.path(), Package: strings.ToLower(l.Name), Version: l.Vers,
		UpstreamURL: expandTemplate(download, l.Name, l.Vers, strings.ToLower(l.Cksum))}
	if l.Cksum != "" {
		a.Integrity = string(registries.SRIFromHex("sha256", strings.ToLower(l.Cksum)))
	}
	return a
}

// keptLines is the index file with only the lines keep keeps (those whose
// .crate is held, those old enough), each byte for byte as it was: cargo
// checks nothing, but a line changed would change what it resolves.
func keptLines(lines []line, keep func(line) bool) []byte {
	var out []byte
	for _, l := range lines {
		if keep(l) {
			out = append(out, l.raw...)
			if out[len(out)-1] != '\n' {
				out = append(out, '\n')
			}
		}
	}
	return out
}

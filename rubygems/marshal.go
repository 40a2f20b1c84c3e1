package rubygems

import (
	"bytes"
	"compress/gzip"
)

// specsTuple is one entry of the full index: a release's name, version
// and platform ("ruby" for a pure-Ruby gem).
type specsTuple struct{ name, version, platform string }

// marshalSpecs writes the full index's format, as RubyGems'
// Gem::Indexer writes specs.4.8.gz: gzip of Marshal.dump (format 4.8) of
// [[name, Gem::Version, platform], …], with UTF-8 strings. Only the types
// that list needs are written: arrays, strings, symbols (the second use of
// one as a link) and Gem::Version (a user-marshalled object, "U", as its
// marshal_dump is [version]). No object is written twice, so no object
// link is needed.
func marshalSpecs(list []specsTuple) []byte {
	w := marshalWriter{symbols: map[string]int{}}
	w.b.Write([]byte{4, 8})
	w.array(len(list))
	for _, t := range list {
		w.array(3)
		w.str(t.name)
		w.b.WriteByte('U')
		w.symbol("Gem::Version")
		w.array(1)
		w.str(t.version)
		w.str(t.platform)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(w.b.Bytes())
	zw.Close()
	return gz.Bytes()
}

type marshalWriter struct {
	b       bytes.Buffer
	symbols map[string]int
}

// long writes an integer as Marshal's w_long does: small ones in one
// byte, others as a byte count and little-endian bytes.
func (w *marshalWriter) long(n int) {
	switch {
	case n == 0:
		w.b.WriteByte(0)
	case 0 < n && n < 123:
		w.b.WriteByte(byte(n + 5))
	default: // lengths and counts are never negative
		var le []byte
		for x := n; x > 0; x >>= 8 {
			le = append(le, byte(x))
		}
		w.b.WriteByte(byte(len(le)))
		w.b.Write(le)
	}
}

func (w *marshalWriter) array(n int) {
	w.b.WriteByte('[')
	w.long(n)
}

func (w *marshalWriter) symbol(s string) {
	if i, ok := w.symbols[s]; ok {
		w.b.WriteByte(';')
		w.long(i)
		return
	}
	w.symbols[s] = len(w.symbols)
	w.b.WriteByte(':')
	w.long(len(s))
	w.b.WriteString(s)
}

// str writes a UTF-8 string: the bytes and one instance variable, E =
// true.
func (w *marshalWriter) str(s string) {
	w.b.WriteString("I\"")
	w.long(len(s))
	w.b.WriteString(s)
	w.long(1)
	w.symbol("E")
	w.b.WriteByte('T')
}

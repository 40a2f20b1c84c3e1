package registries

// IsAlnum says c is an ASCII letter or digit. Package names are checked
// byte by byte, never case-folded: folding would let the Kelvin sign
// (U+212A) pass for k.
func IsAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

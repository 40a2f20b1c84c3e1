package storage

import (
	"strings"
	"testing"
)

const helloSHA256 = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"

func TestParseDigest(t *testing.T) {
	for _, tt := range []struct {
		name string
		in   string
		want Digest // "" when ParseDigest must fail
	}{
		{"a lower-case digest is kept as it is", helloSHA256, helloSHA256},
		{"an upper-case digest is lower-cased", strings.ToUpper(helloSHA256), helloSHA256},
		{"a mixed-case digest is lower-cased", "2CF24dba5FB0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824", helloSHA256},
		{"an empty string is rejected", "", ""},
		{"one digit short is rejected", helloSHA256[:63], ""},
		{"one digit long is rejected", helloSHA256 + "0", ""},
		{"a SHA-1 is rejected", "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d", ""},
		{"a non-hex digit is rejected", helloSHA256[:63] + "g", ""},
		{"an algorithm prefix is rejected", "sha256:" + helloSHA256[:57], ""},
		{"a path is rejected", "../../../../etc/passwd" + strings.Repeat("0", 42), ""},
		{"surrounding space is rejected", " " + helloSHA256[:63], ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseDigest(tt.in)
			if tt.want == "" {
				if err == nil {
					t.Errorf("ParseDigest(%q) = %q, want an error", tt.in, got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("ParseDigest(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
			if !got.valid() {
				t.Errorf("ParseDigest(%q) = %q, which valid rejects", tt.in, got)
			}
		})
	}
}

func TestDigestOf(t *testing.T) {
	for _, tt := range []struct {
		name string
		in   string
		want Digest
	}{
		{"the empty string", "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		{"hello", "hello", helloSHA256},
		{"abc (FIPS 180-2)", "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := DigestOf([]byte(tt.in)); got != tt.want {
				t.Errorf("DigestOf(%q) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}

func TestValidAcceptsOnlyLowerCaseHexOfTheRightLength(t *testing.T) {
	for _, tt := range []struct {
		d    Digest
		want bool
	}{
		{helloSHA256, true},
		{Digest(strings.ToUpper(helloSHA256)), false},
		{"", false},
		{Digest(helloSHA256[:63]), false},
		{helloSHA256 + "0", false},
		{Digest(helloSHA256[:63] + "/"), false},
		{Digest(helloSHA256[:63] + "."), false},
	} {
		if got := tt.d.valid(); got != tt.want {
			t.Errorf("Digest(%q).valid() = %v, want %v", tt.d, got, tt.want)
		}
	}
}

package registries

import (
	"strings"
	"testing"

	"github.com/larder-mirror/larder/storage"
)

func TestCompareToPin(t *testing.T) {
	pin := SRIFromHex("sha512", "aa").Join(SRIFromHex("sha1", "bb"))
	tests := []struct {
		name    string
		offered Integrity
		want    pinVerdict
	}{
		{"identical", pin, pinAgrees},
		{"only the sha1, unchanged", SRIFromHex("sha1", "bb"), pinAgrees},
		{"a changed sha512", SRIFromHex("sha512", "ab").Join(SRIFromHex("sha1", "bb")), pinConflicts},
		{"a changed sha1 alone", SRIFromHex("sha1", "bc"), pinConflicts},
		{"nothing in common", SRIFromHex("sha256", "cc"), pinUnchecked},
		{"one in common, one not", SRIFromHex("sha1", "bb").Join(SRIFromHex("sha256", "cc")), pinUnchecked},
		{"nothing declared", "", pinNothingDeclared},
		{"only an unknown algorithm", "sha3-qg==", pinNothingDeclared},
		{"a malformed token", "sha512-!!!", pinConflicts},
	}
	for _, tt := range tests {
		if got, _ := compareToPin(pin, tt.offered); got != tt.want {
			t.Errorf("%s: compareToPin = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestIntegrityHelpers(t *testing.T) {
	a := SRIFromHex("sha512", "aa").Join(SRIFromHex("sha1", "bb"))
	if got := a.HexDigest("sha1"); got != "bb" {
		t.Errorf("HexDigest(sha1) = %q", got)
	}
	if got := a.Without("sha1"); got != SRIFromHex("sha512", "aa") {
		t.Errorf("Without(sha1) = %q", got)
	}
}

func TestSameIntegrityComparesTheAlgorithmsBothName(t *testing.T) {
	a := SRIFromHex("sha512", "aa").Join(SRIFromHex("sha1", "bb"))
	tests := []struct {
		name string
		b    Integrity
		same bool
	}{
		{"identical", a, true},
		{"only the sha1, unchanged", SRIFromHex("sha1", "bb"), true},
		{"a changed sha512", SRIFromHex("sha512", "ab").Join(SRIFromHex("sha1", "bb")), false},
		{"a changed sha1 alone", SRIFromHex("sha1", "bc"), false},
		{"nothing in common", SRIFromHex("sha256", "cc"), false},
	}
	for _, tt := range tests {
		if got := sameIntegrity(a, tt.b); got != tt.same {
			t.Errorf("%s: sameIntegrity = %v", tt.name, got)
		}
	}
	if got := a.HexDigest("sha1"); got != "bb" {
		t.Errorf("HexDigest(sha1) = %q", got)
	}
	if got := a.Without("sha1"); got != SRIFromHex("sha512", "aa") {
		t.Errorf("Without(sha1) = %q", got)
	}
}

// What the blob is named by answers a sha256 declaration without reading
// it, whatever the pin names, and a row stored before pins existed for
// unverified artifacts is pinned to it.
func TestHeldVerdictKnowsTheBlobsSHA256(t *testing.T) {
	digest := storage.Digest(strings.Repeat("ab", 32))
	pin512 := SRIFromHex("sha512", "aa")
	tests := []struct {
		name     string
		integ    string
		offered  Integrity
		want     pinVerdict
		wantsPin Integrity
	}{
		{"sha256 of the blob against a sha512 pin", string(pin512), SRIFromHex("sha256", string(digest)), pinAgrees, pin512},
		{"another sha256 against a sha512 pin", string(pin512), SRIFromHex("sha256", strings.Repeat("cd", 32)), pinConflicts, pin512},
		{"a row that declared nothing", "", SRIFromHex("sha256", string(digest)), pinAgrees, SRIFromHex("sha256", string(digest))},
		{"a row that declared only sha3", "sha3-qg==", SRIFromHex("sha256", strings.Repeat("cd", 32)), pinConflicts, SRIFromHex("sha256", string(digest))},
	}
	for _, tt := range tests {
		a := storage.Artifact{Integrity: tt.integ, SHA256: digest}
		if got, _ := heldVerdict(a, tt.offered); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
		if got := pinOf(a); got != tt.wantsPin {
			t.Errorf("%s: pinned to %q, want %q", tt.name, got, tt.wantsPin)
		}
	}
}

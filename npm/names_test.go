package npm

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"lodash", true},
		{"JSONStream", true}, // legacy upper case names exist and must install
		{"@types/node", true},
		{"@scope/with.dots-and_under~score", true},
		{"", false},
		{"..", false},
		{".hidden", false},
		{"_private", false},
		{"../etc/passwd", false},
		{"a/b", false},
		{"@scope", false},
		{"@/name", false},
		{"@scope/", false},
		{"has space", false},
		{"nul\x00byte", false},
		{"back\\slash", false},
		{"node_modules", false},
		{"favicon.ico", false},
		{strings.Repeat("a", 214), true},
		{strings.Repeat("a", 215), false},
		{"@scope/" + strings.Repeat("a", 210), false},
	}
	for _, tt := range tests {
		err := ValidateName(tt.name)
		if (err == nil) != tt.ok {
			t.Errorf("ValidateName(%q) = %v, want ok=%v", tt.name, err, tt.ok)
		}
		if err != nil && !errors.Is(err, errBadName) {
			t.Errorf("ValidateName(%q) error %v does not wrap errBadName", tt.name, err)
		}
	}
}

func TestParseRouteAcceptsEveryFormOfAScopedName(t *testing.T) {
	for _, path := range []string{"@scope/pkg", "@scope%2fpkg", "@scope%2Fpkg", "@scope%2fpkg/"} {
		rt, err := parseRoute(path)
		if err != nil {
			t.Fatalf("parseRoute(%q): %v", path, err)
		}
		if rt.kind != kindPackument || rt.name != "@scope/pkg" {
			t.Errorf("parseRoute(%q) = %+v, want the packument of @scope/pkg", path, rt)
		}
	}
}

func TestParseRoute(t *testing.T) {
	tests := []struct {
		path    string
		want    route
		wantErr bool
	}{
		{path: "lodash", want: route{kind: kindPackument, name: "lodash"}},
		{path: "lodash/4.17.21", want: route{kind: kindVersion, name: "lodash", version: "4.17.21"}},
		{path: "lodash/latest", want: route{kind: kindVersion, name: "lodash", version: "latest"}},
		{path: "lodash/-/lodash-4.17.21.tgz", want: route{kind: kindTarball, name: "lodash", file: "lodash-4.17.21.tgz"}},
		{path: "@types/node/-/node-20.1.0.tgz", want: route{kind: kindTarball, name: "@types/node", file: "node-20.1.0.tgz"}},
		{path: "@types%2fnode/-/node-20.1.0.tgz", want: route{kind: kindTarball, name: "@types/node", file: "node-20.1.0.tgz"}},
		{path: "@types/node/20.1.0", want: route{kind: kindVersion, name: "@types/node", version: "20.1.0"}},
		{path: "-/ping", want: route{kind: kindEndpoint, rest: "ping"}},
		{path: "-/npm/v1/keys", want: route{kind: kindEndpoint, rest: "npm/v1/keys"}},
		{path: "lodash/-/other-1.0.0.tgz", wantErr: true},
		{path: "lodash/-/lodash-..%2f..%2fx.tgz", wantErr: true},
		{path: "..%2f..%2fetc%2fpasswd", wantErr: true},
		{path: "lodash%00", wantErr: true},
		{path: "lodash/1.0.0/extra", wantErr: true},
		{path: "@scope", wantErr: true},
		{path: "%zz", wantErr: true},
		{path: "a%2fb", wantErr: true},
	}
	for _, tt := range tests {
		got, err := parseRoute(tt.path)
		if tt.wantErr {
			if err == nil {
				t.Errorf("parseRoute(%q) = %+v, want an error", tt.path, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("parseRoute(%q) = %+v, %v; want %+v", tt.path, got, err, tt.want)
		}
	}
}

func TestTarballPathIsConventional(t *testing.T) {
	if got := tarballPath("lodash", "1.2.3"); got != "lodash/-/lodash-1.2.3.tgz" {
		t.Errorf("unscoped: %s", got)
	}
	if got := tarballPath("@scope/pkg", "1.2.3-beta.1"); got != "@scope/pkg/-/pkg-1.2.3-beta.1.tgz" {
		t.Errorf("scoped: %s", got)
	}
}

func TestEscapeNameEncodesOnlyTheScopeSeparator(t *testing.T) {
	if got := escapeName("@scope/pkg"); got != "@scope%2fpkg" {
		t.Errorf("escapeName = %s", got)
	}
	if got := escapeName("lodash"); got != "lodash" {
		t.Errorf("escapeName = %s", got)
	}
}

func TestChooseVariantFollowsQValues(t *testing.T) {
	tests := []struct{ accept, want string }{
		{"application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*", variantAbbreviated},
		{"application/vnd.npm.install-v1+json", variantAbbreviated},
		{"application/json", variantFull},
		{"", variantFull},
		{"*/*", variantFull},
		{"application/vnd.npm.install-v1+json; q=0.5, application/json", variantFull},
		{"application/json; q=0.5, application/vnd.npm.install-v1+json", variantAbbreviated},
	}
	for _, tt := range tests {
		if got := chooseVariant(tt.accept); got != tt.want {
			t.Errorf("chooseVariant(%q) = %s, want %s", tt.accept, got, tt.want)
		}
	}
}

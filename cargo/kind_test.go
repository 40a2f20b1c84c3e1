package cargo

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/larder-mirror/larder/registries"
)

func TestDownloadURLsExpandAsCargoExpandsConfigJSONsDL(t *testing.T) {
	const sum = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	tests := []struct{ tmpl, crate, want string }{
		{DefaultDownloadURL, "serde", "https://static.crates.io/crates/serde/serde-1.0.0.crate"},
		{"https://dl.example.com/api/v1/crates", "serde", "https://dl.example.com/api/v1/crates/serde/1.0.0/download"},
		{"https://dl.example.com/api/v1/crates/", "serde", "https://dl.example.com/api/v1/crates/serde/1.0.0/download"},
		{"https://dl.example.com/{prefix}/{crate}/{version}", "Inflector", "https://dl.example.com/In/fl/Inflector/1.0.0"},
		{"https://dl.example.com/{lowerprefix}/{crate}", "Inflector", "https://dl.example.com/in/fl/Inflector"},
		{"https://dl.example.com/{lowerprefix}/{crate}", "syn", "https://dl.example.com/3/s/syn"},
		{"https://dl.example.com/by-sum/{sha256-checksum}", "a", "https://dl.example.com/by-sum/" + sum},
	}
	for _, tt := range tests {
		if got := expandTemplate(tt.tmpl, tt.crate, "1.0.0", sum); got != tt.want {
			t.Errorf("expandTemplate(%q, %q) = %q, want %q", tt.tmpl, tt.crate, got, tt.want)
		}
	}
}

func TestDownloadURLIsCheckedAndItsHostAllowed(t *testing.T) {
	up, _ := url.Parse("https://index.crates.io/")
	o := &registries.Options{Upstream: up}
	opts, err := decodeKeys(registries.KindKeys{}, o)
	if err != nil || opts.(Options).DownloadURL != DefaultDownloadURL {
		t.Fatalf("no download_url: %+v, %v; want the default", opts, err)
	}
	if len(o.AlsoFrom) != 1 || o.AlsoFrom[0].Host != "static.crates.io" {
		t.Fatalf("no download_url: AlsoFrom %v, want static.crates.io", o.AlsoFrom)
	}

	same := &registries.Options{Upstream: up}
	if _, err := decodeKeys(registries.KindKeys{"download_url": "https://index.crates.io/dl/{crate}"}, same); err != nil || len(same.AlsoFrom) != 0 {
		t.Fatalf("a download_url on the upstream's host: AlsoFrom %v, %v; want none added", same.AlsoFrom, err)
	}

	for _, bad := range []any{
		"static.crates.io/crates", "ftp://x/{crate}", "https://{crate}.example.com/", "https://x/{name}/{version}",
		"https://user@x/{crate}", "https://x/{crate}?v={version}", "", 42, []any{"https://x/"},
	} {
		_, err := decodeKeys(registries.KindKeys{"download_url": bad}, &registries.Options{Upstream: up})
		var ce *registries.ConfigError
		if err == nil || !errors.As(err, &ce) || ce.Key != "download_url" {
			t.Errorf("download_url = %#v: %v, want an error naming the key", bad, err)
		} else if !strings.Contains(err.Error(), "download_url") {
			t.Errorf("download_url = %#v: %q does not name the key", bad, err)
		}
	}
}

package gomod

import (
	"errors"
	"net/url"
	"testing"

	"github.com/larder-mirror/larder/registries"
)

func TestTheSumdbKeyTakesGOSUMDBsForms(t *testing.T) {
	tests := []struct {
		in        string
		name, url string
		off, bad  bool
	}{
		{in: "sum.golang.org", name: "sum.golang.org"},
		{in: SumGolangOrg, name: "sum.golang.org"},
		{in: "sum.golang.org https://sum.example.com/db", name: "sum.golang.org", url: "https://sum.example.com/db/"},
		{in: "off", off: true},
		{in: "", bad: true},
		{in: "sum.golang.org a b", bad: true},
		{in: "sum.example.com", bad: true}, // an unknown name without its key
		{in: "sum.golang.org ftp://x/", bad: true},
	}
	for _, tt := range tests {
		cfg, off, err := ParseSumDB(tt.in)
		switch {
		case tt.bad:
			if err == nil {
				t.Errorf("ParseSumDB(%q) accepted", tt.in)
			}
		case err != nil:
			t.Errorf("ParseSumDB(%q): %v", tt.in, err)
		case tt.off:
			if !off || cfg != nil {
				t.Errorf("ParseSumDB(%q) = %+v, %v; want off", tt.in, cfg, off)
			}
		default:
			got := ""
			if cfg.URL != nil {
				got = cfg.URL.String()
			}
			if cfg.Name != tt.name || got != tt.url {
				t.Errorf("ParseSumDB(%q) = %s at %q; want %s at %q", tt.in, cfg.Name, got, tt.name, tt.url)
			}
		}
	}
}

func TestDecodeReadsTheKindsKeysAndNamesTheBadOne(t *testing.T) {
	up, _ := url.Parse("https://proxy.golang.org/")
	o := registries.Options{Upstream: up}
	got, err := decodeKeys(registries.KindKeys{
		"sumdb":   "sum.golang.org https://sum.example.com/",
		"private": []any{"*.corp.example.com", "example.com/private"},
		"exclude": []any{"secret.example.com"},
	}, &o)
	if err != nil {
		t.Fatal(err)
	}
	opts := got.(Options)
	if opts.Private != "*.corp.example.com,example.com/private" || opts.Exclude != "secret.example.com" || opts.SumDB == nil || opts.SumDB.Name != "sum.golang.org" {
		t.Errorf("decoded %+v", opts)
	}
	if len(o.AlsoFrom) != 1 || o.AlsoFrom[0].Host != "sum.example.com" {
		t.Errorf("a database on another host is not a host larder may fetch from: %v", o.AlsoFrom)
	}
	for key, value := range map[string]any{
		"sumdb":   42,
		"private": []any{"a,b"},
		"exclude": []any{"[x"},
	} {
		_, err := decodeKeys(registries.KindKeys{key: value}, &registries.Options{})
		var ce *registries.ConfigError
		if !errors.As(err, &ce) {
			t.Errorf("%s = %v: %v, want a ConfigError", key, value, err)
		}
	}
	if got, err := decodeKeys(registries.KindKeys{}, &registries.Options{}); err != nil || got.(Options).SumDB != nil || got.(Options).Off {
		t.Errorf("no keys: %+v, %v; want the default database", got, err)
	}
}

package main

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/larder-mirror/larder/cmd/larder/front"
)

func TestLarderRefusesToStartOpenToTheWorld(t *testing.T) {
	tests := []struct {
		name   string
		cfg    Config
		wantOK bool
	}{
		{"loopback needs nothing", Config{Listen: "127.0.0.1:7070"}, true},
		{"IPv6 loopback needs nothing", Config{Listen: "[::1]:7070"}, true},
		{"every address without rules is refused", Config{Listen: "0.0.0.0:7070"}, false},
		{"a LAN address without rules is refused", Config{Listen: "10.1.2.3:7070"}, false},
		{"an allow-list opens it", Config{Listen: "0.0.0.0:7070", Allow: []string{"10.0.0.0/8"}}, true},
		{"tokens open it", Config{Listen: "0.0.0.0:7070", Tokens: []string{"t0ken"}}, true},
		{"open to all only when written", Config{Listen: "0.0.0.0:7070", Allow: []string{"0.0.0.0/0"}}, true},
		{"a bad network is refused", Config{Listen: "127.0.0.1:7070", Allow: []string{"10.0.0.0/99"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := newAccess(tt.cfg)
			if (err == nil) != tt.wantOK {
				t.Errorf("newAccess = %v, want ok=%v", err, tt.wantOK)
			}
		})
	}
}

func TestAccessRulesApplyToEveryRequest(t *testing.T) {
	sum := sha256.Sum256([]byte("from-file"))
	file := filepath.Join(t.TempDir(), "tokens")
	os.WriteFile(file, []byte("# team tokens\nsha256:"+hex.EncodeToString(sum[:])+"\n"), 0o600)
	acl, err := newAccess(Config{Listen: "0.0.0.0:7070", Allow: []string{"10.0.0.0/8", "192.168.1.7"}, Tokens: []string{"s3cret"}, TokensFile: file})
	if err != nil {
		t.Fatal(err)
	}
	h := serving{handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("cached tarball")) }), chain: front.Chain{acl}}.std()
	tests := []struct {
		name, remote, path, auth string
		want                     int
	}{
		{"a bearer token from an allowed network", "10.1.2.3:5000", "/npm/x/-/x-1.0.0.tgz", "Bearer s3cret", 200},
		{"a hashed token from the file", "10.1.2.3:5000", "/npm/x", "Bearer from-file", 200},
		{"pip's basic auth with the token as password", "192.168.1.7:5000", "/pypi/simple/x/", "Basic " + b64("user:s3cret"), 200},
		{"basic auth with the token as user", "10.0.0.1:1", "/", "Basic " + b64("s3cret:"), 200},
		{"a wrong token", "10.1.2.3:5000", "/npm/x", "Bearer nope", 401},
		{"no token", "10.1.2.3:5000", "/npm/x", "", 401},
		{"a cached tarball for an address outside the list", "172.16.0.1:5000", "/npm/x/-/x-1.0.0.tgz", "Bearer s3cret", 403},
		{"the UI for an address outside the list", "127.0.0.1:5000", "/", "Bearer s3cret", 403},
		{"an IPv4-mapped IPv6 address in the list", "[::ffff:10.0.0.5]:5000", "/npm/x", "Bearer s3cret", 200},
		{"probes need no token", "10.1.2.3:5000", "/healthz", "", 200},
		{"metrics need a token", "10.1.2.3:5000", "/metrics", "", 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", tt.path, nil)
			r.RemoteAddr = tt.remote
			if tt.auth != "" {
				r.Header.Set("Authorization", tt.auth)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tt.want {
				t.Errorf("status %d, want %d", w.Code, tt.want)
			}
			if w.Code != 200 && strings.Contains(w.Body.String(), "cached tarball") {
				t.Error("content leaked past the access check")
			}
		})
	}
}

func b64(s string) string {
	return strings.TrimSpace(httpBasic(s))
}

func httpBasic(userpass string) string {
	r, _ := http.NewRequest("GET", "/", nil)
	user, pass, _ := strings.Cut(userpass, ":")
	r.SetBasicAuth(user, pass)
	return strings.TrimPrefix(r.Header.Get("Authorization"), "Basic ")
}

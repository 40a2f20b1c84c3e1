package main

import (
	"errors"
	"flag"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/larder-mirror/larder/cmd/larder/front"
)

func TestServeRefusesAStrayArgumentAndSaysWhatItExpected(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		args []string
		want []string
	}{
		{[]string{"/etc/larder/larder.toml"}, []string{`unexpected argument "/etc/larder/larder.toml"`, "did you mean --config /etc/larder/larder.toml?"}},
		{[]string{"--offline", "extra", "--listen", "127.0.0.1:0"}, []string{`unexpected argument "extra"`, "larder serve --help"}},
		{[]string{dir}, []string{"did you mean --data " + dir + "?"}},
	} {
		err := serve(tt.args)
		if err == nil {
			t.Fatalf("serve %q started", tt.args)
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("serve %q: %v; want it to say %q", tt.args, err, w)
			}
		}
	}
}

func TestServeTakesFlagsAfterOthers(t *testing.T) {
	// --data after --offline and before a bad --listen: every flag was read
	// (the listen address is what fails, not an ignored argument).
	err := serve([]string{"--offline", "--data", t.TempDir(), "--listen", "not-an-address"})
	if err == nil || !strings.Contains(err.Error(), "listen") {
		t.Errorf("serve = %v, want the bad --listen refused", err)
	}
}

func TestHelpIsOneUsageFormatAndNotAFailure(t *testing.T) {
	for _, cmd := range []struct {
		name string
		run  func([]string) error
	}{{"serve", serve}, {"warm", runWarm}, {"export", runExport}, {"import", runImport}, {"verify", runVerify}, {"gc", runGC}, {"migrate", runMigrate}} {
		out := captureStderr(t, func() {
			if err := cmd.run([]string{"--help"}); err != nil && !errors.Is(err, flag.ErrHelp) {
				t.Errorf("%s --help = %v, want flag.ErrHelp (exit 0)", cmd.name, err)
			}
		})
		if !strings.HasPrefix(out, "usage: larder "+cmd.name) {
			t.Errorf("%s --help printed %q, want it to start with \"usage: larder %s\"", cmd.name, firstLine(out), cmd.name)
		}
	}
}

func TestTheReservedNameErrorListsEveryReservedName(t *testing.T) {
	_, err := parseConfig("larder.toml", []byte("[[registry]]\nkind = \"npm\"\nname = \"setup\""))
	if err == nil {
		t.Fatal("a reserved name was accepted")
	}
	for n := range reservedNames {
		if !strings.Contains(err.Error(), n) {
			t.Errorf("%v does not list %q", err, n)
		}
	}
}

func TestRelativePathsInAFileAreReadFromItsFolder(t *testing.T) {
	etc := t.TempDir()
	if err := os.WriteFile(filepath.Join(etc, "tokens"), []byte(strings.Repeat("a", 64)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(etc, "larder.toml")
	cfg, err := parseConfig(path, []byte(`data = "cache"`+"\n"+`tokens_file = "tokens"`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Data != filepath.Join(etc, "cache") || cfg.TokensFile != filepath.Join(etc, "tokens") {
		t.Errorf("data %q, tokens_file %q; want them under %s", cfg.Data, cfg.TokensFile, etc)
	}
	cfg, err = parseConfig(path, []byte(`data = "/srv/larder"`))
	if err != nil || cfg.Data != "/srv/larder" {
		t.Errorf("an absolute data path: %q, %v", cfg.Data, err)
	}
	if cfg, err = parseConfig(path, []byte(`listen = "127.0.0.1:7070"`)); err != nil || cfg.Data != "./larder-data" {
		t.Errorf("no data key: %q, %v; want the default, from the working directory", cfg.Data, err)
	}
}

func captureStderr(t *testing.T, fn func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stderr
	os.Stderr = w
	done := make(chan []byte)
	go func() {
		var b []byte
		buf := make([]byte, 4096)
		for {
			n, err := r.Read(buf)
			b = append(b, buf[:n]...)
			if err != nil {
				done <- b
				return
			}
		}
	}()
	fn()
	os.Stderr = old
	w.Close()
	return string(<-done)
}

func firstLine(s string) string { l, _, _ := strings.Cut(s, "\n"); return l }

func TestAPortInUseLeavesNoDataFolderBehind(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	data := filepath.Join(t.TempDir(), "larder-data")
	err = serve([]string{"--listen", ln.Addr().String(), "--data", data})
	if err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("serve on a port in use = %v", err)
	}
	if _, err := os.Stat(data); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the data folder was created: %v", err)
	}
}

func TestEveryAnswerIsCountedByRegistryAndCodeAndCountersStartAtZero(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := newHTTPMetrics(reg, []string{"npm"})
	out, err := testutil.GatherAndCount(reg, "larder_http_requests_total")
	if err != nil || out != 1 {
		t.Fatalf("before any request: %d series, %v; want npm's at zero", out, err)
	}
	h := front.NetHTTP(front.Chain{m}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "leaf") || strings.HasPrefix(r.URL.Path, "/api/") {
			return
		}
		http.NotFound(w, r)
	}))
	for _, path := range []string{"/npm/leaf", "/npm/leaf/-/leaf-1.0.0.tgz", "/api/v1/registries", "/nope/x"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, path, nil))
	}
	for _, w := range []struct {
		registry, code string
		n              float64
	}{{"npm", "200", 1}, {"npm", "404", 1}, {"", "200", 1}, {"", "404", 1}} {
		if got := testutil.ToFloat64(m.requests.WithLabelValues(w.registry, w.code)); got != w.n {
			t.Errorf("registry %q code %s: %v, want %v", w.registry, w.code, got, w.n)
		}
	}
}

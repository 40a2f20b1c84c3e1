package pypi

import (
	"net/url"
	"testing"

	"github.com/larder-mirror/larder/registries"
)

func TestFileResolverLetsThroughOnlyTheUpstreamAndFileHosts(t *testing.T) {
	r := fileResolver{
		upstream: mustURL(t, "https://pypi.org/simple/"),
		hosts:    []*url.URL{mustURL(t, "https://files.pythonhosted.org/"), mustURL(t, "http://127.0.0.1:8081/")},
	}
	for _, tc := range []struct {
		why string
		url string
		ok  bool
	}{
		{"a file on the upstream's host is allowed", "https://pypi.org/packages/a/b/p-1.0.tar.gz", true},
		{"a file on a configured file host is allowed", "https://files.pythonhosted.org/packages/ab/cd/ef/p-1.0.tar.gz", true},
		{"a file host on a loopback port is allowed on that port", "http://127.0.0.1:8081/packages/p-1.0.tar.gz", true},
		{"another host is refused", "https://evil.example/p-1.0.tar.gz", false},
		{"the cloud metadata address is refused", "http://169.254.169.254/latest/meta-data/", false},
		{"loopback on another port is refused", "http://127.0.0.1:6379/", false},
		{"loopback without the port is refused", "http://127.0.0.1/p-1.0.tar.gz", false},
		{"the upstream host over another scheme is refused", "http://pypi.org/packages/p-1.0.tar.gz", false},
		{"the file host as user info of another host is refused", "https://files.pythonhosted.org@evil/p-1.0.tar.gz", false},
		{"user info on an allowed host is refused", "https://user:pass@files.pythonhosted.org/p-1.0.tar.gz", false},
		{"a file host's name as a prefix of another is refused", "https://files.pythonhosted.org.evil.example/p-1.0.tar.gz", false},
		{"file:// is refused", "file:///etc/passwd", false},
		{"a scheme-relative URL is refused", "//files.pythonhosted.org/p-1.0.tar.gz", false},
		{"a relative path is refused (it was not resolved)", "p-1.0.tar.gz", false},
		{"ftp is refused", "ftp://files.pythonhosted.org/p-1.0.tar.gz", false},
		{"a URL that does not parse is refused", "https://[::1", false},
	} {
		err := r.check(tc.url)
		if (err == nil) != tc.ok {
			t.Errorf("%s: check(%q) = %v", tc.why, tc.url, err)
		}
	}
}

// A project page's upstream URL is the index URL joined with the project,
// as url.JoinPath makes it, whatever the index URL's trailing slash.
func TestPageURLJoinsTheIndexAndTheProject(t *testing.T) {
	env := newTestEnv(t)
	for _, index := range []string{"https://pypi.org/simple/", "http://127.0.0.1:1234/simple", "https://h/a%20b/simple/", "https://h/", "https://h"} {
		u := mustURL(t, index)
		up := registries.NewUpstream(env, registries.Options{Name: "pypi", Upstream: u})
		t.Cleanup(up.Close)
		g := New(up, "", Options{})
		want := u.JoinPath("foo-bar").String() + "/"
		if got := g.pageRequest("foo-bar").URL; got != want {
			t.Errorf("%s: %q, want %q", index, got, want)
		}
	}
}

package pypi

import (
	"testing"
	"time"
)

func TestPythonAllowsReadsRequiresPython(t *testing.T) {
	for _, tc := range []struct {
		spec, python   string
		allowed, known bool
	}{
		{"", "3.8.1", true, true},
		{">=3.8", "3.8", true, true},
		{">=3.8", "3.7.17", false, true},
		{">=3.9", "3.10.2", true, true}, // numbers, not strings
		{">3.8", "3.8.0", false, true},  // 3.8 is 3.8.0
		{"<4", "3.12", true, true},
		{"<=3.8", "3.8.5", false, true},
		{"==3.8.*", "3.8.18", true, true},
		{"==3.8.*", "3.9.0", false, true},
		{">=2.7, !=3.0.*, !=3.1.*", "3.1.4", false, true},
		{">=2.7, !=3.0.*, !=3.1.*", "3.10.0", true, true},
		{"!=3.0.*", "3", false, true}, // 3 is 3.0
		{"~=3.8", "3.12.1", true, true},
		{"~=3.8", "4.0", false, true},
		{"~=3.8.1", "3.9.0", false, true},
		{"~=3.8.1", "3.8.4", true, true},
		{"==3.8", "3.8.0", true, true},
		{"!=3.8", "3.8.0", false, true},
		{" >= 3.6 ", "3.6", true, true},
		{"~=3", "3.8", false, false},      // ~= needs two numbers
		{">=3.*", "3.8", false, false},    // a wildcard only with == and !=
		{"===3.8", "3.8", false, false},   // arbitrary equality
		{">=3.8rc1", "3.8", false, false}, // not a release larder reads
		{"3.8", "3.8", false, false},      // no operator
		{">=3.8,", "3.8", false, false},   // an empty clause
		{">=3.8", "", false, false},       // no Python
		{">=3.8", "3.13.0rc1", false, false},
	} {
		allowed, known := pythonAllows(tc.spec, tc.python)
		if known != tc.known || (known && allowed != tc.allowed) {
			t.Errorf("pythonAllows(%q, %q) = %v, %v; want %v, %v", tc.spec, tc.python, allowed, known, tc.allowed, tc.known)
		}
	}
}

func TestThePythonOfAPipUserAgent(t *testing.T) {
	for _, tc := range []struct{ ua, want string }{
		{`pip/24.0 {"ci":null,"cpu":"x86_64","implementation":{"name":"CPython","version":"3.11.2"},"installer":{"name":"pip","version":"24.0"},"python":"3.11.2"}`, "3.11.2"},
		{`uv/0.4.18 {"installer":{"name":"uv","version":"0.4.18"},"python":"3.12.6","implementation":{"name":"CPython","version":"3.12.6"}}`, "3.12.6"},
		{`pip/24.0 {"python":"3.13.0rc1"}`, ""},
		{`pip/24.0 {"python":"3.8; rm -rf /"}`, ""},
		{`curl/8.5.0`, ""},
		{`pip/24.0 {not json`, ""},
		{``, ""},
	} {
		if got := pythonOfUserAgent(tc.ua); got != tc.want {
			t.Errorf("pythonOfUserAgent(%q) = %q, want %q", tc.ua, got, tc.want)
		}
	}
}

func TestClientPythonsAreBoundedAndForgotten(t *testing.T) {
	var c clientPythons
	c.note("files/a/a-1.0-py3-none-any.whl.metadata", "3.8.18")
	c.note("files/b/b-1.0-py3-none-any.whl.metadata", "")
	if got := c.of("files/a/a-1.0-py3-none-any.whl.metadata"); got != "3.8.18" {
		t.Errorf("of = %q, want 3.8.18", got)
	}
	if got := c.of("files/b/b-1.0-py3-none-any.whl.metadata"); got != "" {
		t.Errorf("a file noted with no Python: of = %q", got)
	}
	c.mu.Lock()
	s := c.m["files/a/a-1.0-py3-none-any.whl.metadata"]
	s.at = time.Now().Add(-clientPythonTTL - time.Second)
	c.m["files/a/a-1.0-py3-none-any.whl.metadata"] = s
	c.mu.Unlock()
	if got := c.of("files/a/a-1.0-py3-none-any.whl.metadata"); got != "" {
		t.Errorf("a Python noted long ago: of = %q, want it forgotten", got)
	}
	for i := range 3 * maxClientPythons {
		c.note(string(rune('a'+i%26))+time.Duration(i).String(), "3.12")
	}
	if n := len(c.m); n > maxClientPythons {
		t.Errorf("%d files remembered, want at most %d", n, maxClientPythons)
	}
}

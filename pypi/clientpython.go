package pypi

import (
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tidwall/gjson"
)

// pip and uv name the Python they install for in their User-Agent (the
// linehaul JSON after the installer's name: "python":"3.8.18"). The file
// pip will read next is of the newest release whose Requires-Python allows
// that Python; on an older Python that is often not the newest release. So
// larder remembers which Python asked for each file, and the loads ahead
// that file starts pick their files for it, and pass it on down the tree.

// pythonOfUserAgent is the Python version a pip-like User-Agent names, or
// "" when it names none larder can read.
func pythonOfUserAgent(ua string) string {
	i := strings.IndexByte(ua, '{')
	if i < 0 {
		return ""
	}
	v := gjson.Get(ua[i:], "python").String()
	if _, ok := pythonRelease(v); !ok {
		return ""
	}
	return v
}

// clientPythons remembers, for a while, which Python asked for a file (or
// had it loaded ahead), so that what keeping the file starts is for the
// same Python.
type clientPythons struct {
	mu sync.Mutex
	m  map[string]seenPython
}

type seenPython struct {
	python string
	at     time.Time
}

// maxClientPythons bounds the files remembered; clientPythonTTL is how long
// one is: the loads ahead a file starts follow its keep within seconds.
const (
	maxClientPythons = 4096
	clientPythonTTL  = 10 * time.Minute
)

func (c *clientPythons) note(path, python string) {
	if python == "" {
		return
	}
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]seenPython{}
	}
	if len(c.m) >= maxClientPythons {
		for p, s := range c.m {
			if now.Sub(s.at) > clientPythonTTL {
				delete(c.m, p)
			}
		}
		if len(c.m) >= maxClientPythons {
			clear(c.m)
		}
	}
	c.m[path] = seenPython{python, now}
}

// of is the Python that last asked for path, or "" when none is known.
func (c *clientPythons) of(path string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.m[path]
	if !ok || time.Since(s.at) > clientPythonTTL {
		return ""
	}
	return s.python
}

// pythonAllows says whether the Requires-Python specifier spec allows the
// Python version python, and known is false when larder cannot tell (a
// clause it does not read, or no Python): the caller then does not hold
// spec against the file.
func pythonAllows(spec, python string) (allowed, known bool) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return true, true
	}
	py, ok := pythonRelease(python)
	if !ok {
		return true, false
	}
	for _, part := range strings.Split(spec, ",") {
		ok, known := pythonClause(strings.TrimSpace(part), py)
		if !known {
			return true, false
		}
		if !ok {
			return false, true
		}
	}
	return true, true
}

// pythonClause checks one clause of a Requires-Python against py, the
// Python's release numbers.
func pythonClause(c string, py []int) (allowed, known bool) {
	for _, op := range []string{"~=", "===", "==", "!=", ">=", "<=", ">", "<"} {
		rest, ok := strings.CutPrefix(c, op)
		if !ok {
			continue
		}
		rest = strings.TrimSpace(rest)
		if op == "===" {
			return false, false
		}
		if prefix, wild := strings.CutSuffix(rest, ".*"); wild {
			v, ok := pythonRelease(prefix)
			if !ok || (op != "==" && op != "!=") {
				return false, false
			}
			match := comparePrefix(py, v) == 0
			return match == (op == "=="), true
		}
		v, ok := pythonRelease(rest)
		if !ok {
			return false, false
		}
		n := compareRelease(py, v)
		switch op {
		case "~=":
			// ~=3.8 is >=3.8 and ==3.*; ~=3.8.1 is >=3.8.1 and ==3.8.*.
			if len(v) < 2 {
				return false, false
			}
			return n >= 0 && comparePrefix(py, v[:len(v)-1]) == 0, true
		case "==":
			return n == 0, true
		case "!=":
			return n != 0, true
		case ">=":
			return n >= 0, true
		case "<=":
			return n <= 0, true
		case ">":
			return n > 0, true
		case "<":
			return n < 0, true
		}
	}
	return false, false
}

// pythonRelease reads a Python version's release numbers ("3.8", "3.11.4");
// false for anything else (a pre-release suffix, a local label).
func pythonRelease(v string) ([]int, bool) {
	if v == "" {
		return nil, false
	}
	var out []int
	for _, s := range strings.Split(v, ".") {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || len(s) > 6 {
			return nil, false
		}
		out = append(out, n)
	}
	return out, true
}

// compareRelease compares release numbers, the shorter padded with zeros
// (3.8 is 3.8.0).
func compareRelease(a, b []int) int {
	for i := range max(len(a), len(b)) {
		x, y := releasePart(a, i), releasePart(b, i)
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}

// comparePrefix compares a's first len(prefix) numbers with prefix's: 0
// when a is of the series prefix names (3.8.10 is of 3.8.*).
func comparePrefix(a, prefix []int) int {
	return compareRelease(a[:min(len(a), len(prefix))], prefix)
}

func releasePart(v []int, i int) int {
	if i < len(v) {
		return v[i]
	}
	return 0
}

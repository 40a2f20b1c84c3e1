package pypi

import (
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
	if _, ok := releaseNumbers(v); !ok {
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
// clause it does not read, one of a version that is not a plain release,
// or no Python): the caller then does not hold spec against the file.
func pythonAllows(spec, python string) (allowed, known bool) {
	if strings.TrimSpace(spec) == "" {
		return true, true
	}
	if _, ok := releaseNumbers(python); !ok {
		return true, false
	}
	cs, ok := parseSpecifier(spec)
	if !ok {
		return true, false
	}
	for _, c := range cs {
		if _, plain := releaseNumbers(c.version); !plain {
			return true, false
		}
	}
	return cs.allow(python), true
}

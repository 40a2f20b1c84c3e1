package main

import (
	"fmt"
	"strings"

	"github.com/larder-mirror/larder/npm/npmtest"
	"github.com/larder-mirror/larder/pypi/pypitest"
)

// fetchCounts is how many times the fake upstreams were asked for each
// artifact that clients installed through larder: once is the only right
// answer, whichever node (or nodes, concurrently) the clients reached.
type fetchCounts struct {
	cold, warm    counts // installed cold during the run; warmed before it
	notInstalled  int    // cold items no client installed
	wrong         []string
	unneededFetch int // fetches of artifacts no client installed
}

type counts struct{ artifacts, min, max int }

func (c *counts) add(n int) {
	if c.artifacts == 0 || n < c.min {
		c.min = n
	}
	c.max = max(c.max, n)
	c.artifacts++
}

func (c counts) String() string {
	if c.artifacts == 0 {
		return "no artifact"
	}
	return fmt.Sprintf("%d artifacts, min %d, max %d", c.artifacts, c.min, c.max)
}

// upstreamFetches counts, at the fakes, the GETs of every item's artifact.
func upstreamFetches(npmUp *npmtest.Server, pypiUp *pypitest.Server, items []*item) fetchCounts {
	var fc fetchCounts
	for _, it := range items {
		var n int
		var path string
		if it.npm {
			path = "/" + npmtest.TarballPath(it.name, it.version)
			n = npmUp.Count("GET", path)
		} else {
			path = "/" + strings.TrimPrefix(pypiUp.FileURL(it.file), pypiUp.FilesURL)
			n = pypiUp.Count("files", "GET", path)
		}
		switch {
		case !it.warm.Load():
			fc.notInstalled++
			fc.unneededFetch += n
			continue
		case it.coldPool:
			fc.cold.add(n)
		default:
			fc.warm.add(n)
		}
		if n != 1 && len(fc.wrong) < 10 {
			fc.wrong = append(fc.wrong, fmt.Sprintf("%s: %d upstream fetches", path, n))
		}
	}
	return fc
}

// ok reports whether every installed artifact was fetched exactly once.
func (fc fetchCounts) ok() bool {
	for _, c := range []counts{fc.cold, fc.warm} {
		if c.artifacts > 0 && (c.min != 1 || c.max != 1) {
			return false
		}
	}
	return true
}

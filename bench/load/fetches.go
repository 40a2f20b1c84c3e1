package main

import (
	"fmt"
	"strings"

	"github.com/larder-mirror/larder/npm/npmtest"
	"github.com/larder-mirror/larder/pypi/pypitest"
)

// fetchCounts is how many times the fake upstreams were asked for each
// artifact that clients installed through larder, and for its document:
// once is the only right answer, whichever node (or nodes, concurrently)
// the clients reached; a document stays fresh for the whole run
// (metadata_ttl = "1h").
type fetchCounts struct {
	cold, warm    counts // artifacts installed cold during the run; warmed before it
	documents     counts // packuments and project pages of installed items
	notInstalled  int    // cold items no client installed
	wrong         []string
	unneededFetch int // fetches of artifacts no client installed
}

type counts struct{ n, min, max int }

func (c *counts) add(n int) {
	if c.n == 0 || n < c.min {
		c.min = n
	}
	c.max = max(c.max, n)
	c.n++
}

// of says it of what was counted, e.g. c.of("artifacts").
func (c counts) of(what string) string {
	if c.n == 0 {
		return "no " + what
	}
	return fmt.Sprintf("%d %s, min %d, max %d", c.n, what, c.min, c.max)
}

// upstreamFetches counts, at the fakes, the GETs of every item's artifact.
func upstreamFetches(npmUp *npmtest.Server, pypiUp *pypitest.Server, items []*item) fetchCounts {
	var fc fetchCounts
	for _, it := range items {
		var n, docN int
		var path, doc string
		if it.npm {
			path = "/" + npmtest.TarballPath(it.name, it.version)
			n = npmUp.Count("GET", path)
			// larder asks for a scoped packument as npm does, its slash
			// escaped; the fake logs the path as sent.
			doc = "/" + strings.Replace(it.name, "/", "%2f", 1)
			docN = npmUp.Count("GET", doc)
		} else {
			path = "/" + strings.TrimPrefix(pypiUp.FileURL(it.file), pypiUp.FilesURL)
			n = pypiUp.Count("files", "GET", path)
			doc = "/simple/" + pypitest.Normalize(it.name) + "/"
			docN = pypiUp.Count("index", "GET", doc)
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
		fc.documents.add(docN)
		if n != 1 && len(fc.wrong) < 10 {
			fc.wrong = append(fc.wrong, fmt.Sprintf("%s: %d upstream fetches", path, n))
		}
		if docN != 1 && len(fc.wrong) < 10 {
			fc.wrong = append(fc.wrong, fmt.Sprintf("%s: %d upstream fetches", doc, docN))
		}
	}
	return fc
}

// ok reports whether every installed artifact, and its document, was
// fetched exactly once.
func (fc fetchCounts) ok() bool {
	for _, c := range []counts{fc.cold, fc.warm, fc.documents} {
		if c.n > 0 && (c.min != 1 || c.max != 1) {
			return false
		}
	}
	return true
}

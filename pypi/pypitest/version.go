package pypitest

import (
	"math"
	"regexp"
	"strconv"
	"strings"
)

// VersionFromFilename extracts the version from a distribution filename:
// wheels and eggs ("name-1.0-py3-none-any.whl") carry it as the second dash
// field, sdists ("name-1.0.tar.gz") after the last dash. It returns "" when
// the filename has no recognizable version.
func VersionFromFilename(filename string) string {
	switch {
	case strings.HasSuffix(filename, ".whl"), strings.HasSuffix(filename, ".egg"):
		parts := strings.Split(filename, "-")
		if len(parts) >= 3 {
			return parts[1]
		}
		return ""
	}
	base := filename
	for _, ext := range []string{".tar.gz", ".tar.bz2", ".tar.xz", ".tgz", ".tar", ".zip"} {
		if strings.HasSuffix(base, ext) {
			base = strings.TrimSuffix(base, ext)
			i := strings.LastIndex(base, "-")
			if i < 0 {
				return ""
			}
			return base[i+1:]
		}
	}
	return ""
}

var pep440RE = regexp.MustCompile(`^v?(?:(\d+)!)?(\d+(?:\.\d+)*)` +
	`(?:[-_.]?(a|b|c|rc|alpha|beta|pre|preview)[-_.]?(\d*))?` +
	`(?:-(\d+)|[-_.]?(post|rev|r)[-_.]?(\d*))?` +
	`(?:[-_.]?(dev)[-_.]?(\d*))?` +
	`(?:\+([a-z0-9]+(?:[-_.][a-z0-9]+)*))?$`)

type versionKey struct {
	ok      bool
	epoch   int
	release []int
	pre     [2]int // phase (a=0,b=1,rc=2; -1 none-before-dev; 99 none) and number
	post    int    // -1 when absent
	dev     int    // MaxInt when absent
	local   string
	raw     string
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

func parseVersion(v string) versionKey {
	m := pep440RE.FindStringSubmatch(strings.ToLower(strings.TrimSpace(v)))
	if m == nil {
		return versionKey{raw: v}
	}
	k := versionKey{ok: true, raw: v, epoch: atoi(m[1]), post: -1, dev: math.MaxInt, local: m[10]}
	for _, p := range strings.Split(m[2], ".") {
		k.release = append(k.release, atoi(p))
	}
	for len(k.release) > 1 && k.release[len(k.release)-1] == 0 {
		k.release = k.release[:len(k.release)-1]
	}
	switch m[3] {
	case "a", "alpha":
		k.pre = [2]int{0, atoi(m[4])}
	case "b", "beta":
		k.pre = [2]int{1, atoi(m[4])}
	case "c", "rc", "pre", "preview":
		k.pre = [2]int{2, atoi(m[4])}
	default:
		k.pre = [2]int{99, 0}
	}
	if m[5] != "" {
		k.post = atoi(m[5])
	} else if m[6] != "" {
		k.post = atoi(m[7])
	}
	if m[8] != "" {
		k.dev = atoi(m[9])
	}
	// 1.0.dev0 sorts before 1.0a1: a dev release with no pre or post part.
	if m[3] == "" && k.post < 0 && m[8] != "" {
		k.pre = [2]int{-1, 0}
	}
	return k
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// CompareVersions orders two versions as PEP 440 does (epoch, release,
// pre-release, post-release, dev-release, local). Strings that are not PEP
// 440 versions sort before all that are, among themselves as strings.
func CompareVersions(a, b string) int {
	return compareKeys(parseVersion(a), parseVersion(b))
}

func compareKeys(ka, kb versionKey) int {
	a, b := ka.raw, kb.raw
	if !ka.ok || !kb.ok {
		switch {
		case ka.ok:
			return 1
		case kb.ok:
			return -1
		}
		return strings.Compare(a, b)
	}
	if c := cmpInt(ka.epoch, kb.epoch); c != 0 {
		return c
	}
	for i := 0; i < len(ka.release) || i < len(kb.release); i++ {
		var x, y int
		if i < len(ka.release) {
			x = ka.release[i]
		}
		if i < len(kb.release) {
			y = kb.release[i]
		}
		if c := cmpInt(x, y); c != 0 {
			return c
		}
	}
	for _, c := range []int{
		cmpInt(ka.pre[0], kb.pre[0]), cmpInt(ka.pre[1], kb.pre[1]),
		cmpInt(ka.post, kb.post), cmpInt(ka.dev, kb.dev),
		strings.Compare(ka.local, kb.local),
	} {
		if c != 0 {
			return c
		}
	}
	return strings.Compare(a, b)
}

// isPrerelease reports whether v has a pre-release or dev part.
func isPrerelease(v string) bool {
	k := parseVersion(v)
	return k.ok && (k.pre[0] != 99 || k.dev != math.MaxInt)
}

package pypi

import (
	"regexp"
	"strconv"
	"strings"
)

// pep440 is the version grammar of PEP 440, with its accepted spellings.
// Groups: 1 epoch, 2 release, 3 pre label, 4 pre number, 5 post part,
// 6 implicit post number, 7 post number, 8 dev part, 9 dev number.
var pep440 = regexp.MustCompile(`(?i)^v?(?:(\d+)!)?(\d+(?:\.\d+)*)(?:[-_.]?(a|alpha|b|beta|c|rc|pre|preview)[-_.]?(\d*))?(-(\d+)|[-_.]?(?:post|rev|r)[-_.]?(\d*))?([-_.]?dev[-_.]?(\d*))?(?:\+[a-z0-9]+(?:[-_.][a-z0-9]+)*)?$`)

type pyVersion struct {
	epoch   int64
	release []int64
	pre     int // -1 none; 0 a, 1 b, 2 rc
	preN    int64
	post    int64 // -1 none
	dev     int64 // -1 none
}

func parsePyVersion(s string) (pyVersion, bool) {
	s = strings.TrimSpace(s)
	idx := pep440.FindStringSubmatchIndex(s)
	if idx == nil {
		return pyVersion{}, false
	}
	group := func(i int) (string, bool) {
		if idx[2*i] < 0 {
			return "", false
		}
		return s[idx[2*i]:idx[2*i+1]], true
	}
	num := func(i int) int64 {
		g, _ := group(i)
		n, _ := strconv.ParseInt(g, 10, 64)
		return n
	}
	v := pyVersion{epoch: num(1), pre: -1, post: -1, dev: -1}
	rel, _ := group(2)
	for _, p := range strings.Split(rel, ".") {
		n, _ := strconv.ParseInt(p, 10, 64)
		v.release = append(v.release, n)
	}
	for len(v.release) > 1 && v.release[len(v.release)-1] == 0 {
		v.release = v.release[:len(v.release)-1]
	}
	label, _ := group(3)
	switch strings.ToLower(label) {
	case "a", "alpha":
		v.pre = 0
	case "b", "beta":
		v.pre = 1
	case "c", "rc", "pre", "preview":
		v.pre = 2
	}
	v.preN = num(4)
	if _, ok := group(5); ok {
		v.post = num(6) + num(7) // one of them is empty
	}
	if _, ok := group(8); ok {
		v.dev = num(9)
	}
	return v, true
}

// compareVersions orders PEP 440 versions; strings that are not versions
// sort below those that are, among themselves by byte order.
func compareVersions(a, b string) int {
	va, oka := parsePyVersion(a)
	vb, okb := parsePyVersion(b)
	switch {
	case !oka && !okb:
		return strings.Compare(a, b)
	case !oka:
		return -1
	case !okb:
		return 1
	}
	if c := cmp64(va.epoch, vb.epoch); c != 0 {
		return c
	}
	for i := 0; i < len(va.release) || i < len(vb.release); i++ {
		var x, y int64
		if i < len(va.release) {
			x = va.release[i]
		}
		if i < len(vb.release) {
			y = vb.release[i]
		}
		if c := cmp64(x, y); c != 0 {
			return c
		}
	}
	if c := cmp64(preKey(va), preKey(vb)); c != 0 {
		return c
	}
	if va.pre >= 0 && vb.pre >= 0 {
		if c := cmp64(va.preN, vb.preN); c != 0 {
			return c
		}
	}
	if c := cmp64(va.post, vb.post); c != 0 {
		return c
	}
	return cmp64(devKey(va), devKey(vb))
}

// preKey places 1.0.dev1 before 1.0a1 before 1.0b1 before 1.0rc1 before 1.0.
func preKey(v pyVersion) int64 {
	switch {
	case v.pre >= 0:
		return int64(v.pre)
	case v.post < 0 && v.dev >= 0:
		return -1
	}
	return 3
}

// devKey places a dev release before the same version without one.
func devKey(v pyVersion) int64 {
	if v.dev < 0 {
		return 1 << 62
	}
	return v.dev
}

func cmp64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

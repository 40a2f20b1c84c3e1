package maven

import (
	"strings"
)

// compareVersions orders two Maven versions as Maven's ComparableVersion
// does for the versions found in practice: numbers compare as numbers, a
// missing part is 0 (1.0 = 1.0.0), and the well-known qualifiers rank
// alpha < beta < milestone < rc < snapshot < (release, ga, final) < sp,
// any other qualifier after those, alphabetically; a number outranks a
// qualifier (1.0.1 > 1.0-rc1). It returns -1, 0 or +1.
func compareVersions(a, b string) int {
	ta, tb := versionTokens(a), versionTokens(b)
	for i := 0; i < len(ta) || i < len(tb); i++ {
		var x, y versionToken
		if i < len(ta) {
			x = ta[i]
		}
		if i < len(tb) {
			y = tb[i]
		}
		if c := x.compare(y); c != 0 {
			return c
		}
	}
	return 0
}

// versionToken is a number (digits without leading zeros), a qualifier,
// or, as the zero value, a missing part.
type versionToken struct {
	num   string
	isNum bool
	qual  string
}

func (x versionToken) compare(y versionToken) int {
	switch {
	case x.isNum && y.isNum:
		if len(x.num) != len(y.num) {
			return sign(len(x.num) - len(y.num))
		}
		return strings.Compare(x.num, y.num)
	case x.isNum:
		if qualifierRank(y.qual) != rankRelease {
			return 1 // a number outranks a qualifier
		}
		return x.compareToZero()
	case y.isNum:
		return -y.compare(x)
	}
	rx, ry := qualifierRank(x.qual), qualifierRank(y.qual)
	if rx != ry {
		return sign(rx - ry)
	}
	if rx == rankOther {
		return strings.Compare(x.qual, y.qual)
	}
	return 0
}

// compareToZero compares a number with a missing part, or a release.
func (x versionToken) compareToZero() int {
	if x.num == "" {
		return 0
	}
	return 1
}

const rankRelease, rankOther = 5, 7

func qualifierRank(q string) int {
	switch q {
	case "alpha", "a":
		return 0
	case "beta", "b":
		return 1
	case "milestone", "m":
		return 2
	case "rc", "cr":
		return 3
	case "snapshot":
		return 4
	case "", "ga", "final", "release":
		return 5
	case "sp":
		return 6
	}
	return rankOther
}

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}

// versionTokens splits a version at ".", "-", "_" and where digits meet
// letters.
func versionTokens(v string) []versionToken {
	v = strings.ToLower(v)
	var out []versionToken
	flush := func(s string) {
		if s == "" {
			return
		}
		if s[0] >= '0' && s[0] <= '9' {
			out = append(out, versionToken{num: strings.TrimLeft(s, "0"), isNum: true})
		} else {
			out = append(out, versionToken{qual: s})
		}
	}
	start := 0
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == '.' || c == '-' || c == '_' {
			flush(v[start:i])
			start = i + 1
			continue
		}
		if i > start && isDigit(c) != isDigit(v[i-1]) {
			flush(v[start:i])
			start = i
		}
	}
	flush(v[start:])
	return out
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// isSnapshot says whether a version is a snapshot's.
func isSnapshot(v string) bool { return strings.HasSuffix(v, "-SNAPSHOT") }

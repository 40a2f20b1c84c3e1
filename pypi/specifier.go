package pypi

import (
	"strconv"
	"strings"
)

// clause is one comparison of a version specifier (PEP 440). series is set
// for == and != with a trailing .* (the release numbers before it), and for
// ~= (all its release numbers but the last): the versions of that series.
type clause struct {
	op, version string
	series      []int64
}

type clauses []clause

// parseSpecifier reads a version specifier (">=3.8, !=3.9.*"); false for
// one larder does not read: ===, a wildcard other than with == and !=, a
// ~= whose version is not a release of two numbers or more, or a version
// that is not one.
func parseSpecifier(spec string) (clauses, bool) {
	var cs clauses
	for _, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			if strings.TrimSpace(spec) == "" {
				break
			}
			return nil, false
		}
		var c clause
		for _, op := range []string{"~=", "===", ">=", "<=", "==", "!=", ">", "<"} {
			if rest, ok := strings.CutPrefix(part, op); ok {
				c = clause{op: op, version: strings.TrimSpace(rest)}
				break
			}
		}
		if c.op == "" || c.op == "===" {
			return nil, false
		}
		if base, wild := strings.CutSuffix(c.version, ".*"); wild {
			nums, ok := releaseNumbers(base)
			if !ok || (c.op != "==" && c.op != "!=") {
				return nil, false
			}
			c.version, c.series = base, nums
		} else if _, ok := parsePyVersion(c.version); !ok {
			return nil, false
		}
		if c.op == "~=" {
			nums, ok := releaseNumbers(c.version)
			if !ok || len(nums) < 2 {
				return nil, false
			}
			c.series = nums[:len(nums)-1]
		}
		cs = append(cs, c)
	}
	return cs, true
}

// parseClauses reads a requirement's specifiers for guessing which release
// pip picks; false for one larder does not read or does not guess with
// (~= and wildcards too).
func parseClauses(spec string) (clauses, bool) {
	cs, ok := parseSpecifier(spec)
	if !ok {
		return nil, false
	}
	for _, c := range cs {
		if c.series != nil {
			return nil, false
		}
	}
	return cs, true
}

// allow says whether every clause allows version v.
func (cs clauses) allow(v string) bool {
	for _, c := range cs {
		n := compareVersions(v, c.version)
		var ok bool
		switch c.op {
		case "~=":
			ok = n >= 0 && inSeries(v, c.series)
		case ">=":
			ok = n >= 0
		case "<=":
			ok = n <= 0
		case "==":
			ok = n == 0 || (c.series != nil && inSeries(v, c.series))
		case "!=":
			ok = n != 0 && (c.series == nil || !inSeries(v, c.series))
		case ">":
			ok = n > 0
		case "<":
			ok = n < 0
		}
		if !ok {
			return false
		}
	}
	return true
}

// inSeries says whether version v's release begins with series (3.8.18 and
// 3.8 are of 3.8, 3 is of 3.0).
func inSeries(v string, series []int64) bool {
	pv, ok := parsePyVersion(v)
	if !ok || pv.epoch != 0 {
		return false
	}
	for i, n := range series {
		var got int64
		if i < len(pv.release) {
			got = pv.release[i]
		}
		if got != n {
			return false
		}
	}
	return true
}

// releaseNumbers reads a plain release ("3.8", "3.11.4") as it is spelled,
// zeros kept; false for anything else (a pre-release, a local label).
func releaseNumbers(s string) ([]int64, bool) {
	if s == "" {
		return nil, false
	}
	var out []int64
	for _, p := range strings.Split(s, ".") {
		if p == "" || strings.TrimLeft(p, "0123456789") != "" {
			return nil, false
		}
		n, err := strconv.ParseInt(p, 10, 64)
		if err != nil {
			return nil, false
		}
		out = append(out, n)
	}
	return out, true
}

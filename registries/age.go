package registries

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// ParseAge reads a release age: "3d", "12h", "90m", "2w", "1d12h", or an
// ISO 8601 duration ("P3D", "PT12H", "P1W", "P1DT6H"). "0" and "" are
// zero: no minimum. Months and years are refused: their length depends on
// the date.
func ParseAge(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "0" {
		return 0, nil
	}
	if strings.HasPrefix(s, "P") || strings.HasPrefix(s, "p") {
		return parseISODuration(s)
	}
	m := agePattern.FindAllStringSubmatchIndex(s, -1)
	if m == nil || m[0][0] != 0 || m[len(m)-1][1] != len(s) || !contiguous(m) {
		return 0, fmt.Errorf("%q is not an age such as 3d, 12h, 1w or P3D", s)
	}
	var total time.Duration
	for _, g := range m {
		n, err := strconv.ParseInt(s[g[2]:g[3]], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%q: %v", s, err)
		}
		d, err := times(n, ageUnits[s[g[4]:g[5]]])
		if err != nil {
			return 0, fmt.Errorf("%q: %v", s, err)
		}
		total += d
		if total < 0 {
			return 0, fmt.Errorf("%q is too long", s)
		}
	}
	return total, nil
}

var (
	agePattern = regexp.MustCompile(`([0-9]+)(w|d|h|m|s)`)
	ageUnits   = map[string]time.Duration{"w": 7 * 24 * time.Hour, "d": 24 * time.Hour, "h": time.Hour, "m": time.Minute, "s": time.Second}
	isoPattern = regexp.MustCompile(`^[Pp](?:([0-9]+)[Ww])?(?:([0-9]+)[Dd])?(?:[Tt](?:([0-9]+)[Hh])?(?:([0-9]+)[Mm])?(?:([0-9]+)[Ss])?)?$`)
)

func contiguous(m [][]int) bool {
	for i := 1; i < len(m); i++ {
		if m[i][0] != m[i-1][1] {
			return false
		}
	}
	return true
}

func times(n int64, unit time.Duration) (time.Duration, error) {
	if n > int64(1<<62)/int64(unit) {
		return 0, errors.New("too long")
	}
	return time.Duration(n) * unit, nil
}

func parseISODuration(s string) (time.Duration, error) {
	m := isoPattern.FindStringSubmatch(s)
	if m == nil || s == "P" || strings.HasSuffix(strings.ToUpper(s), "T") {
		return 0, fmt.Errorf("%q is not an ISO 8601 duration of weeks, days, hours, minutes and seconds such as P3D or PT12H (months and years have no fixed length)", s)
	}
	var total time.Duration
	for i, unit := range []time.Duration{ageUnits["w"], ageUnits["d"], time.Hour, time.Minute, time.Second} {
		if m[i+1] == "" {
			continue
		}
		n, err := strconv.ParseInt(m[i+1], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%q: %v", s, err)
		}
		d, err := times(n, unit)
		if err != nil {
			return 0, fmt.Errorf("%q: %v", s, err)
		}
		total += d
		if total < 0 {
			return 0, fmt.Errorf("%q is too long", s)
		}
	}
	return total, nil
}

// FormatAge writes an age as ParseAge reads it: 3d, 36h, 90m.
func FormatAge(d time.Duration) string {
	switch {
	case d == 0:
		return "0"
	case d%(24*time.Hour) == 0:
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	case d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	}
	return d.String()
}

// CheckExempt checks one min_release_age_exempt pattern: a package name
// ("lodash", "@our-org/*") or a name and version ("typescript@5.9.3",
// "left-pad@1.*"), where * matches within a path segment as in path.Match.
func CheckExempt(pattern string) error {
	name, version := splitExempt(pattern)
	if strings.Trim(name, "@/") == "" {
		return fmt.Errorf("%q names no package", pattern)
	}
	if _, err := path.Match(name, ""); err != nil {
		return fmt.Errorf("%q: %v", pattern, err)
	}
	if _, err := path.Match(version, ""); err != nil {
		return fmt.Errorf("%q: %v", pattern, err)
	}
	if strings.Contains(pattern, "@") && version == "" && !strings.HasPrefix(pattern, "@") {
		return fmt.Errorf("%q: no version after @", pattern)
	}
	return nil
}

// splitExempt splits "name@version" at its last "@" that does not start
// the name (npm's scopes begin with one).
func splitExempt(pattern string) (name, version string) {
	i := strings.LastIndexByte(pattern, '@')
	if i <= 0 {
		return pattern, ""
	}
	return pattern[:i], pattern[i+1:]
}

// exemptions are the compiled min_release_age_exempt patterns.
type exemptions struct {
	names    []string            // whole packages
	versions map[string][]string // name pattern → version patterns
}

func newExemptions(patterns []string) exemptions {
	e := exemptions{versions: map[string][]string{}}
	for _, p := range patterns {
		name, version := splitExempt(p)
		if version == "" {
			e.names = append(e.names, name)
		} else {
			e.versions[name] = append(e.versions[name], version)
		}
	}
	return e
}

func matches(pattern, s string) bool {
	ok, err := path.Match(pattern, s)
	return ok && err == nil
}

// pkg says whether every release of pkg is exempt.
func (e exemptions) pkg(pkg string) bool {
	for _, n := range e.names {
		if matches(n, pkg) {
			return true
		}
	}
	return false
}

// version says whether pkg's version is exempt.
func (e exemptions) version(pkg, version string) bool {
	for name, versions := range e.versions {
		if !matches(name, pkg) {
			continue
		}
		for _, v := range versions {
			if matches(v, version) {
				return true
			}
		}
	}
	return false
}

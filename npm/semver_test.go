package npm

import "testing"

func TestCompareVersionsFollowsSemver(t *testing.T) {
	ordered := []string{"not-semver", "0.9.0", "1.0.0-0", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1", "1.10.0", "2.0.0"}
	for i := 0; i+1 < len(ordered); i++ {
		a, b := ordered[i], ordered[i+1]
		if compareVersions(a, b) >= 0 || compareVersions(b, a) <= 0 {
			t.Errorf("want %s < %s", a, b)
		}
	}
	if compareVersions("1.0.0+build.1", "1.0.0") != 0 {
		t.Error("build metadata must not count")
	}
}

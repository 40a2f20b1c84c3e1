package pypi

import "testing"

func TestCompareVersionsFollowsPEP440(t *testing.T) {
	// Each is below the next.
	ordered := []string{"0.9", "1.0.dev0", "1.0a1", "1.0a2.dev1", "1.0a2", "1.0b1", "1.0rc1", "1.0", "1.0.post1.dev0", "1.0.post1", "1.0.1", "1.1", "1.10", "2!0.1"}
	for i := 0; i+1 < len(ordered); i++ {
		a, b := ordered[i], ordered[i+1]
		if compareVersions(a, b) >= 0 || compareVersions(b, a) <= 0 {
			t.Errorf("want %s < %s", a, b)
		}
	}
	for _, same := range [][2]string{{"1.0", "1.0.0"}, {"1.0-1", "1.0.post1"}, {"1.0alpha1", "1.0a1"}, {"1.0c1", "1.0rc1"}, {"v1.0", "1.0"}, {"1.0+local", "1.0"}} {
		if compareVersions(same[0], same[1]) != 0 {
			t.Errorf("want %s == %s", same[0], same[1])
		}
	}
	if compareVersions("not a version", "0.1") >= 0 {
		t.Error("a non-version should sort below versions")
	}
}

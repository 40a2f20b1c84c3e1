package storage

import (
	"slices"
	"testing"
)

func TestHeldArtifactsLeaveOutWhatIsOnlyAnnounced(t *testing.T) {
	s := seed(t)
	paths := func(arts []Artifact, err error) []string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, a := range arts {
			out = append(out, a.Path)
		}
		return out
	}
	all := paths(s.PackageArtifacts(t.Context(), "npm", "lodash"))
	held := paths(s.HeldArtifacts(t.Context(), "npm", "lodash"))
	if want := []string{s.lodash20.Path, s.lodash21.Path}; !slices.Equal(held, want) {
		t.Errorf("held artifacts of lodash = %q, want %q", held, want)
	}
	if len(all) != 3 {
		t.Errorf("every artifact of lodash = %q, want the two held and 4.17.19, announced only", all)
	}
}

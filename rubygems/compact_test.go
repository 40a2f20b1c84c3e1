package rubygems

import (
	"slices"
	"testing"
)

func TestKeepReleasesLeavesEveryKeptLineAndThePreambleByteForByte(t *testing.T) {
	body := "---\n1.0.0 a:>= 1&< 2|checksum:" + sixtyFour("a") + "\n1.0.0-java |checksum:" + sixtyFour("b") + "\n2.0.0 |checksum:" + sixtyFour("c") + ",ruby:>= 2.7\n"
	got := keepReleases([]byte(body), func(rel string) bool { return rel != "1.0.0-java" })
	want := "---\n1.0.0 a:>= 1&< 2|checksum:" + sixtyFour("a") + "\n2.0.0 |checksum:" + sixtyFour("c") + ",ruby:>= 2.7\n"
	if string(got) != want {
		t.Fatalf("kept:\n%s\nwant\n%s", got, want)
	}
	if got := keepReleases([]byte(body), func(string) bool { return true }); string(got) != body {
		t.Fatalf("keeping all changed the file:\n%s", got)
	}
}

func TestAFilesNameIsReadEveryWayItCanBe(t *testing.T) {
	for stem, want := range map[string][]release{
		"rack-2.2.8":                   {{"rack", "2.2.8"}},
		"nokogiri-1.15.0-x86_64-linux": {{"nokogiri", "1.15.0-x86_64-linux"}},
		"net-http-0.4.1":               {{"net-http", "0.4.1"}},
		"a-1.0-b-2.0":                  {{"a", "1.0-b-2.0"}, {"a-1.0-b", "2.0"}},
		"noversion":                    nil,
		"-1.0":                         nil,
	} {
		if got := fileCandidates(stem); !slices.Equal(got, want) {
			t.Errorf("fileCandidates(%q) = %v, want %v", stem, got, want)
		}
	}
}

func TestAnInfoLineGivesItsChecksumRequirementsAndRuby(t *testing.T) {
	inf, err := parseInfo([]byte("---\n1.1.0 dep:~> 0.1,other:>= 1&< 3|checksum:" + sixtyFour("d") + ",ruby:>= 2.0\n"))
	if err != nil {
		t.Fatal(err)
	}
	l := inf.lines[0]
	if l.release != "1.1.0" || l.checksum != sixtyFour("d") || l.ruby != ">= 2.0" ||
		!slices.Equal(l.deps, []dependency{{"dep", "~> 0.1"}, {"other", ">= 1, < 3"}}) {
		t.Fatalf("parsed %+v", l)
	}
	for _, bad := range []string{"---\n1.0.0 |checksum:1\n", "no preamble\n", "---\nv1 |\n"} {
		if _, err := parseInfo([]byte(bad)); err == nil {
			t.Errorf("parseInfo(%q) accepted it", bad)
		}
	}
}

func sixtyFour(c string) string {
	s := ""
	for len(s) < 64 {
		s += c
	}
	return s
}

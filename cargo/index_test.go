package cargo

import (
	"strings"
	"testing"
	"time"
)

const (
	sumA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	sumB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

// Two lines as a registry writes them: field order, spacing and fields
// larder does not read must all survive.
var serdeIndex = `{"name":"serde","vers":"1.0.0","deps":[],"cksum":"` + sumA + `","features":{},"yanked":false}
{"name":"serde","vers":"1.0.1","deps":[{"name":"serde_derive","req":"=1.0.1","features":[],"optional":true,"default_features":true,"target":null,"kind":"normal"}],"cksum":"` + sumB + `","features":{"derive":["serde_derive"]},"yanked":false,"links":null,"v":2,"features2":{"x":["dep:y"]},"rust_version":"1.31", "pubtime":"2024-01-02T03:04:05Z"}
`

func TestAnIndexFileAnnouncesEachVersionsCrateWithItsCksum(t *testing.T) {
	lines, err := parseIndex([]byte(serdeIndex), "serde")
	if err != nil || len(lines) != 2 {
		t.Fatalf("parseIndex: %d lines, %v", len(lines), err)
	}
	a := lines[1].artifact("cargo", DefaultDownloadURL)
	if a.Path != "api/v1/crates/serde/1.0.1/download" || a.Package != "serde" || a.Version != "1.0.1" ||
		a.UpstreamURL != "https://static.crates.io/crates/serde/serde-1.0.1.crate" || a.Integrity != "sha256-u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7s=" {
		t.Fatalf("the row of serde 1.0.1: %+v", a)
	}
}

func TestALineWithoutCksumIsAnnouncedWithNothingToCheck(t *testing.T) {
	lines, err := parseIndex([]byte(`{"name":"x-y","vers":"0.1.0","deps":[],"features":{},"yanked":false}`), "x-y")
	if err != nil || len(lines) != 1 {
		t.Fatalf("parseIndex: %v", err)
	}
	if a := lines[0].artifact("cargo", DefaultDownloadURL); a.Integrity != "" {
		t.Fatalf("a line without cksum declares %q", a.Integrity)
	}
}

func TestAnIndexFileLarderCannotTrustIsRefused(t *testing.T) {
	for what, body := range map[string]string{
		"a line that is not JSON":               "{\"name\":\"serde\",\"vers\":\"1.0.0\"\n",
		"a line naming another crate":           `{"name":"evil","vers":"1.0.0","cksum":"` + sumA + `"}`,
		"a version that is no path":             `{"name":"serde","vers":"../../x","cksum":"` + sumA + `"}`,
		"a cksum that is not a sha256":          `{"name":"serde","vers":"1.0.0","cksum":"abc"}`,
		"a line that is a JSON array":           `["serde","1.0.0"]`,
		"a name that differs by more than case": `{"name":"serde-","vers":"1.0.0"}`,
	} {
		if _, err := parseIndex([]byte(body), "serde"); err == nil {
			t.Errorf("%s: accepted", what)
		} else if !strings.Contains(err.Error(), "line 1") {
			t.Errorf("%s: %q does not say which line", what, err)
		}
	}
}

func TestTheHeldViewLeavesLinesOutAndNeverEditsOne(t *testing.T) {
	lines, err := parseIndex([]byte(serdeIndex), "serde")
	if err != nil {
		t.Fatal(err)
	}
	second := serdeIndex[strings.IndexByte(serdeIndex, '\n')+1:]
	got := keptLines(lines, heldIn(map[string]bool{"api/v1/crates/serde/1.0.1/download": true}))
	if string(got) != second {
		t.Fatalf("the held view of 1.0.1 is %q, want its line as it came, %q", got, second)
	}
	if got := keptLines(lines, heldIn(map[string]bool{})); len(got) != 0 {
		t.Fatalf("the held view of nothing is %q", got)
	}
	// A last line without its newline gets one: cargo reads lines.
	noNewline := strings.TrimSuffix(serdeIndex, "\n")
	lines, _ = parseIndex([]byte(noNewline), "serde")
	got = keptLines(lines, heldIn(map[string]bool{"api/v1/crates/serde/1.0.0/download": true, "api/v1/crates/serde/1.0.1/download": true}))
	if string(got) != serdeIndex {
		t.Fatalf("the held view of both lines is %q, want %q", got, serdeIndex)
	}
}

// heldIn keeps the lines whose .crate is in held.
func heldIn(held map[string]bool) func(line) bool {
	return func(l line) bool { return held[l.path()] }
}

func TestReleasesOfPubtime(t *testing.T) {
	body := `{"name":"serde","vers":"1.0.0","cksum":"` + strings.Repeat("a", 64) + `","pubtime":"2025-10-29T12:00:00Z"}
{"name":"serde","vers":"1.0.1","cksum":"` + strings.Repeat("b", 64) + `"}
{"name":"serde","vers":"1.0.2","cksum":"` + strings.Repeat("c", 64) + `","pubtime":"yesterday"}
`
	lines, err := parseIndex([]byte(body), "serde")
	if err != nil {
		t.Fatal(err)
	}
	rels := releasesOf(lines)
	if len(rels) != 3 {
		t.Fatalf("%d releases, want 3", len(rels))
	}
	if want := time.Date(2025, 10, 29, 12, 0, 0, 0, time.UTC); !rels[0].Published.Equal(want) || rels[0].Version != "1.0.0" {
		t.Fatalf("1.0.0 is dated %v (%q), want %v", rels[0].Published, rels[0].Version, want)
	}
	// No pubtime, or one that is not a time: no upstream date, so larder's
	// first sight dates it.
	for _, r := range rels[1:] {
		if !r.Published.IsZero() {
			t.Fatalf("%s is dated %v by a line without a usable pubtime", r.Name, r.Published)
		}
	}
}

package maven

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"net/http"
	"strings"
	"testing"

	"github.com/larder-mirror/larder/maven/maventest"
	"github.com/larder-mirror/larder/registries"
	"github.com/larder-mirror/larder/registries/registriestest"
)

// Checksum files come in the forms Maven Resolver reads (ChecksumUtils):
// the digest alone, the digest and the file's name (sha1sum), OpenSSL's
// "SHA1(file)= digest", and GnuPG's "file: DA39 A3EE …" (--print-md),
// upper case or lower. Whatever the form, what is kept is the digest.
func TestChecksumFilesAreReadInEveryFormMavenReads(t *testing.T) {
	jar := []byte("PK the jar")
	sum := hexSum(sha1.New(), jar)
	upper := strings.ToUpper(sum)
	var grouped []string
	for i := 0; i < len(upper); i += 4 {
		grouped = append(grouped, upper[i:i+4])
	}
	for _, c := range []struct{ name, body string }{
		{"the digest alone", sum},
		{"the digest and a newline", sum + "\n"},
		{"the digest and the file's name, as sha1sum writes it", sum + "  lib-1.0.jar\n"},
		{"upper case", upper},
		{"OpenSSL's form", "SHA1(lib-1.0.jar)= " + sum + "\n"},
		{"OpenSSL's form with spaces", "SHA1 (lib-1.0.jar) = " + sum},
		{"the file's name and a colon", "lib-1.0.jar: " + sum},
		{"GnuPG's --print-md", "lib-1.0.jar: " + strings.Join(grouped[:5], " ") + "  " + strings.Join(grouped[5:], " ") + "\n"},
		{"a blank line first", "\n\n  " + sum + "\n"},
	} {
		prep, err := checkChecksumFile("sha1")([]byte(c.body), "text/plain")
		if err != nil || string(prep.Body) != sum {
			t.Errorf("%s (%q): %q, %v; want %s", c.name, c.body, prep.Body, err, sum)
		}
	}
	for _, c := range []struct{ name, body string }{
		{"empty", ""},
		{"an HTML page", "<html><body>Not here</body></html>"},
		{"a digest of another length", hexSum(sha256.New(), jar)},
		{"not hex", strings.Repeat("z", 40)},
	} {
		if prep, err := checkChecksumFile("sha1")([]byte(c.body), "text/plain"); err == nil {
			t.Errorf("%s (%q) read as %q, want an error", c.name, c.body, prep.Body)
		}
	}
}

// An artifact Maven would resolve is never a 5xx because of a side file:
// a stronger checksum file that is malformed, or that a repository manager
// refuses (401, 403), gives way to the next one; only when none is usable
// and one could not be asked is the artifact refused.
func TestAStrongerChecksumFileThatIsMalformedOrRefusedGivesWayToTheNextOne(t *testing.T) {
	type sideFile struct {
		status int
		body   []byte
	}
	jar := []byte("PK the jar")
	sha1Line := "SHA1(lib-1.0.jar)= " + hexSum(sha1.New(), jar)
	cases := []struct {
		name      string
		answers   map[string]sideFile
		status    int
		integrity string // the row's, by prefix
	}{
		{"a malformed .sha512 and a 403 on .sha256: the .sha1 in OpenSSL's form",
			map[string]sideFile{"sha512": {http.StatusOK, []byte("<html>oops</html>")}, "sha256": {http.StatusForbidden, nil}, "sha1": {http.StatusOK, []byte(sha1Line)}},
			http.StatusOK, "sha1-"},
		{"a 401 on .sha512: the .sha256",
			map[string]sideFile{"sha512": {http.StatusUnauthorized, nil}},
			http.StatusOK, "sha256-"},
		{"a 500 on .sha512 beside a good .sha256: the .sha256",
			map[string]sideFile{"sha512": {http.StatusInternalServerError, nil}},
			http.StatusOK, "sha256-"},
		{"every checksum file refused: nothing to check against, pinned at first sight",
			map[string]sideFile{"sha512": {http.StatusForbidden, nil}, "sha256": {http.StatusForbidden, nil}, "sha1": {http.StatusUnauthorized, nil}},
			http.StatusOK, "sha256-"},
		{"none usable and one answering 500: refused",
			map[string]sideFile{"sha512": {http.StatusInternalServerError, nil}, "sha256": {http.StatusForbidden, nil}, "sha1": {http.StatusOK, []byte("garbage")}},
			http.StatusBadGateway, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fake := maventest.New()
			defer fake.Close()
			paths := fake.Publish("org.example", "lib", "1.0", map[string][]byte{".jar": jar})
			for algo, a := range c.answers {
				fake.Answer(paths[".jar"]+"."+algo, a.status, a.body)
			}
			m := newMirror(t, fake, registriestest.NewEnv(t), Options{}, registries.Options{})
			rec := m.get("/" + paths[".jar"])
			if rec.Code != c.status {
				t.Fatalf("GET the jar: %d %s, want %d", rec.Code, rec.Body, c.status)
			}
			if c.status != http.StatusOK {
				return
			}
			if rec.Body.String() != string(jar) {
				t.Fatalf("the jar: %q", rec.Body)
			}
			row, err := m.up.Store().DB.Artifact(t.Context(), "maven", paths[".jar"])
			if err != nil || !row.Cached() || !strings.HasPrefix(row.Integrity, c.integrity) {
				t.Fatalf("the jar's row: %+v, %v; want it held, pinned to %s…", row, err, c.integrity)
			}
			if sum := string(m.want200("/" + paths[".jar"] + ".sha512")); sum != hexSum(sha512.New(), jar) {
				t.Errorf("the .sha512 larder serves: %q, want that of the bytes it serves", sum)
			}
		})
	}
}

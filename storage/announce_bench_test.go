package storage

import (
	"fmt"
	"testing"
	"time"
)

// announcing is a package's document as a registry serves it: versions
// artifacts, each with its URL and integrity.
func announcing(pkg string, versions int) NewDocument {
	arts := make([]Artifact, versions)
	for v := range versions {
		ver := fmt.Sprintf("1.%d.0", v)
		file := fmt.Sprintf("%s/-/%s-%s.tgz", pkg, pkg, ver)
		arts[v] = Artifact{Path: file, Package: pkg, Version: ver, UpstreamURL: "https://registry.npmjs.org/" + file,
			Integrity: fmt.Sprintf("sha512-%086d==", v)}
	}
	return NewDocument{
		Doc:       Document{Registry: "npm", Key: pkg, Variant: "abbreviated", ContentType: "application/json", FetchedAt: time.Now()},
		Package:   pkg,
		Announces: arts,
	}
}

// benchmarkKeepColdDocument stores the document of a package larder has
// never seen, announcing versions artifacts: what each package of a cold
// install costs the database. bench/cold.sh's packages have one version; a
// real lockfile's have tens to thousands.
func benchmarkKeepColdDocument(b *testing.B, versions int) {
	s := newBenchStore(b)
	body := []byte(`{"name":"x","versions":{}}`)
	i := 0
	for b.Loop() {
		i++
		if _, err := s.KeepDocument(b.Context(), announcing(fmt.Sprintf("pkg-%d", i), versions), body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkKeepColdDocument1Version(b *testing.B)    { benchmarkKeepColdDocument(b, 1) }
func BenchmarkKeepColdDocument300Versions(b *testing.B) { benchmarkKeepColdDocument(b, 300) }

// BenchmarkKeepRefreshedDocument300Versions stores again the document of a
// package of 300 versions, unchanged but for its body: a refresh after the
// metadata TTL of a popular package.
func BenchmarkKeepRefreshedDocument300Versions(b *testing.B) {
	s := newBenchStore(b)
	n := announcing("popular", 300)
	i := 0
	for b.Loop() {
		i++
		if _, err := s.KeepDocument(b.Context(), n, fmt.Appendf(nil, `{"name":"popular","_rev":"%d"}`, i)); err != nil {
			b.Fatal(err)
		}
	}
}

func newBenchStore(b *testing.B) *Store {
	b.Helper()
	s, err := Open(b.Context(), b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.DB.Close() })
	return s
}

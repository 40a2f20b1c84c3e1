package npmtest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/larder-mirror/larder/registries/registriestest/faults"
)

// npmEpoch is the modification time npm pack gives every tarball entry
// (1985-10-26T08:15:00Z), which makes packing reproducible.
var npmEpoch = time.Date(1985, time.October, 26, 8, 15, 0, 0, time.UTC)

// Tarball builds an npm package tarball: a gzip'd tar with the entries
// "package/package.json" (name, version, description, main, license,
// dependencies) and "package/index.js". The same inputs always give the same
// bytes: entries have npm's fixed mtime and the gzip header carries none.
func Tarball(name, version string, deps map[string]string) []byte {
	return TarballWith(name, version, deps, nil)
}

// TarballWith is Tarball whose package.json also has the fields of extra
// (in the order of their names), such as optionalDependencies, os and cpu
// of a package built for one platform. PublishTarball copies them into the
// version document, as the registry does.
func TarballWith(name, version string, deps map[string]string, extra map[string]any) []byte {
	if deps == nil {
		deps = map[string]string{}
	}
	fields := obj{
		{"name", name},
		{"version", version},
		{"description", defaultDescription(name)},
		{"main", "index.js"},
		{"license", "MIT"},
		{"dependencies", deps}, // encoding/json sorts map keys
	}
	for _, k := range slices.Sorted(maps.Keys(extra)) {
		fields = append(fields, field{k, extra[k]})
	}
	var manifest bytes.Buffer
	enc := json.NewEncoder(&manifest)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	err := enc.Encode(fields)
	if err != nil {
		panic("npmtest: " + err.Error())
	}
	index := fmt.Appendf(nil, "module.exports = { name: %q, version: %q };\n", name, version)

	var buf bytes.Buffer
	gz, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	tw := tar.NewWriter(gz)
	for _, f := range []struct {
		name string
		body []byte
	}{{"package/package.json", manifest.Bytes()}, {"package/index.js", index}} {
		hdr := &tar.Header{
			Typeflag: tar.TypeReg,
			Name:     f.name,
			Mode:     0o644,
			Size:     int64(len(f.body)),
			ModTime:  npmEpoch,
			Format:   tar.FormatUSTAR,
		}
		if err := tw.WriteHeader(hdr); err != nil {
			panic("npmtest: " + err.Error())
		}
		if _, err := tw.Write(f.body); err != nil {
			panic("npmtest: " + err.Error())
		}
	}
	if err := tw.Close(); err != nil {
		panic("npmtest: " + err.Error())
	}
	if err := gz.Close(); err != nil {
		panic("npmtest: " + err.Error())
	}
	return buf.Bytes()
}

// TarballPath returns the conventional registry path of a tarball, without a
// leading slash: "lodash/-/lodash-1.0.0.tgz", "@scope/pkg/-/pkg-1.0.0.tgz".
func TarballPath(name, version string) string {
	return name + "/-/" + tarballFile(name, version)
}

// tarballFile is the file name part of TarballPath: "pkg-1.0.0.tgz".
func tarballFile(name, version string) string {
	return path.Base(name) + "-" + version + ".tgz"
}

func defaultDescription(name string) string {
	return "Fake package " + name + " served by npmtest"
}

// tarballInfo is what a registry learns by reading a published tarball.
type tarballInfo struct {
	fileCount    int
	unpackedSize int64
	manifest     map[string]json.RawMessage // top-level package.json fields; nil if unreadable
}

// inspectTarball reads a .tgz as the registry does on publish. Bytes that are
// not a gzip'd tar give a zero tarballInfo.
func inspectTarball(tgz []byte) tarballInfo {
	var info tarballInfo
	gz, err := gzip.NewReader(bytes.NewReader(tgz))
	if err != nil {
		return info
	}
	tr := tar.NewReader(gz)
	for {
		hdr, err := tr.Next()
		if err != nil {
			return info
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		info.fileCount++
		info.unpackedSize += hdr.Size
		// npm takes package.json from the single top-level folder, whatever
		// its name ("package/" almost always).
		dir, file, ok := strings.Cut(strings.TrimPrefix(hdr.Name, "./"), "/")
		if !ok || dir == "" || file != "package.json" || info.manifest != nil {
			continue
		}
		body, err := io.ReadAll(io.LimitReader(tr, 8<<20))
		if err != nil {
			continue
		}
		var m map[string]json.RawMessage
		if json.Unmarshal(body, &m) == nil && m != nil {
			info.manifest = m
		}
	}
}

// tamper returns bytes that differ from tgz. A gzip stream is re-compressed
// with another header, so the tarball still unpacks to the same files but its
// hashes change; anything else gets its last byte flipped.
func tamper(tgz []byte) []byte {
	if gz, err := gzip.NewReader(bytes.NewReader(tgz)); err == nil {
		if plain, err := io.ReadAll(gz); err == nil {
			var buf bytes.Buffer
			w, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
			w.Comment = "tampered by npmtest"
			w.ModTime = npmEpoch
			if _, err := w.Write(plain); err == nil && w.Close() == nil && !bytes.Equal(buf.Bytes(), tgz) {
				return buf.Bytes()
			}
		}
	}
	return faults.Flipped(tgz)
}

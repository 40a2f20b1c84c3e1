package gomod

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb/dirhash"

	"github.com/larder-mirror/larder/registries"
	"github.com/larder-mirror/larder/storage"
)

// verify is the kind's Verify hook. A version's rows carry, as their
// Integrity, the h1: hash the checksum database records for the file
// ("h1:BASE64", as in go.sum), set by Registry.announce after a verified
// look-up:
//
//   - .zip: dirhash.HashZip of the bytes, as the go command computes it;
//   - .mod: dirhash.Hash1 over the one file "go.mod";
//   - .info: no database or go.sum line covers it, and the go command
//     trusts it as it comes; larder checks that it is the JSON of the
//     version asked for ({"Version": the version, "Time": a time}).
//
// A .zip or .mod without a hash (a private module, or sumdb = "off") has
// nothing to be checked against: Unchecked, and the unverifiable policy
// decides.
func verify(_ context.Context, a storage.Artifact) (registries.Verifier, error) {
	ext := a.Path[strings.LastIndexByte(a.Path, '.')+1:]
	if ext == "info" {
		return &infoVerifier{version: a.Version}, nil
	}
	want := a.Integrity
	if want == "" {
		return &uncheckedVerifier{}, nil
	}
	if !strings.HasPrefix(want, "h1:") {
		return nil, fmt.Errorf("%w: %s: larder checks go modules against h1: hashes, not %q", registries.ErrIntegrity, a.Path, want)
	}
	switch ext {
	case "mod":
		return &modVerifier{want: want}, nil
	case "zip":
		f, err := os.CreateTemp("", "larder-gomod-*.zip")
		if err != nil {
			return nil, err
		}
		// Unlinked at once: nothing is left behind, whatever happens to
		// the download; Close (registries calls it) releases the space.
		os.Remove(f.Name())
		return &zipVerifier{want: want, f: f, mod: module.Version{Path: a.Package, Version: a.Version}}, nil
	}
	return nil, fmt.Errorf("%w: %s is not a file of a Go module", registries.ErrIntegrity, a.Path)
}

type uncheckedVerifier struct{}

func (uncheckedVerifier) Write(p []byte) (int, error) { return len(p), nil }
func (uncheckedVerifier) Check() error                { return nil }
func (uncheckedVerifier) Unchecked() bool             { return true }

// maxInfo bounds a .info file: a version and a time.
const maxInfo = 64 << 10

type infoVerifier struct {
	version string
	buf     bytes.Buffer
}

func (v *infoVerifier) Write(p []byte) (int, error) {
	if v.buf.Len()+len(p) <= maxInfo {
		v.buf.Write(p)
	} else {
		v.buf.WriteByte(0) // over the bound: Check refuses it
	}
	return len(p), nil
}

func (v *infoVerifier) Check() error {
	if v.buf.Len() > maxInfo {
		return fmt.Errorf("%w: .info over %d bytes", registries.ErrIntegrity, maxInfo)
	}
	var info struct {
		Version string
		Time    string
	}
	if err := json.Unmarshal(v.buf.Bytes(), &info); err != nil {
		return fmt.Errorf("%w: .info is not JSON: %v", registries.ErrIntegrity, err)
	}
	if info.Version != v.version {
		return fmt.Errorf("%w: .info names version %q, not %q", registries.ErrIntegrity, info.Version, v.version)
	}
	return nil
}

func (v *infoVerifier) Unchecked() bool { return false }

type modVerifier struct {
	want string
	buf  bytes.Buffer
}

func (v *modVerifier) Write(p []byte) (int, error) { return v.buf.Write(p) }

func (v *modVerifier) Check() error {
	got, err := hashMod(v.buf.Bytes())
	if err != nil {
		return fmt.Errorf("%w: hashing go.mod: %v", registries.ErrIntegrity, err)
	}
	if got != v.want {
		return fmt.Errorf("%w: go.mod hashes to %s, the checksum database says %s", registries.ErrIntegrity, got, v.want)
	}
	return nil
}

func (v *modVerifier) Unchecked() bool { return false }

// hashMod is the go.sum hash of a go.mod file ("/go.mod" lines).
func hashMod(mod []byte) (string, error) {
	return dirhash.Hash1([]string{"go.mod"}, func(string) (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(mod)), nil
	})
}

// zipVerifier spools the zip to an unlinked temporary file, as reading a
// zip needs its end first, and hashes it as the go command does.
type zipVerifier struct {
	want string
	mod  module.Version
	f    *os.File
	n    int64
	err  error
}

func (v *zipVerifier) Write(p []byte) (int, error) {
	if v.err == nil {
		var k int
		k, v.err = v.f.Write(p)
		v.n += int64(k)
	}
	return len(p), nil
}

func (v *zipVerifier) Check() error {
	if v.err != nil {
		return fmt.Errorf("spooling %s to hash it: %w", v.mod, v.err)
	}
	got, err := hashZip(v.f, v.n)
	if err != nil {
		return fmt.Errorf("%w: %s: not a module zip: %v", registries.ErrIntegrity, v.mod, err)
	}
	if got != v.want {
		return fmt.Errorf("%w: the zip of %s hashes to %s, the checksum database says %s", registries.ErrIntegrity, v.mod, got, v.want)
	}
	return nil
}

func (v *zipVerifier) Unchecked() bool { return false }

// Close releases the spooled copy.
func (v *zipVerifier) Close() error { return v.f.Close() }

// hashZip is dirhash.HashZip over a zip that is not a named file: Hash1
// over the names of the zip's files and their contents.
func hashZip(r io.ReaderAt, size int64) (string, error) {
	z, err := zip.NewReader(r, size)
	if err != nil {
		return "", err
	}
	var names []string
	files := make(map[string]*zip.File, len(z.File))
	for _, f := range z.File {
		names = append(names, f.Name)
		files[f.Name] = f
	}
	return dirhash.Hash1(names, func(name string) (io.ReadCloser, error) {
		f := files[name]
		if f == nil {
			return nil, fmt.Errorf("file %q not found in zip", name)
		}
		return f.Open()
	})
}

// infoVersion reads the Version of a .info file.
func infoVersion(body []byte) (string, error) {
	var info struct{ Version string }
	if err := json.Unmarshal(body, &info); err != nil {
		return "", fmt.Errorf(".info is not JSON: %v", err)
	}
	return info.Version, nil
}

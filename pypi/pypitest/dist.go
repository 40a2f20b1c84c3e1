// Package pypitest is a fake PyPI for larder's tests: an index host that
// speaks the simple API (PEP 503/691/658/700/714) and the legacy JSON API the
// way pypi.org does, a separate files host like files.pythonhosted.org, fault
// modes, and builders for real wheels and sdists that pip can install.
//
// Everything here uses the standard library only (and package faults, the
// fault modes every fake upstream shares, itself standard library only) and
// listens on 127.0.0.1.
package pypitest

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"regexp"
	"strings"
	"time"
)

var normalizeRE = regexp.MustCompile(`[-_.]+`)

// Normalize is the PEP 503 name normalization:
// re.sub(r"[-_.]+", "-", name).lower().
func Normalize(name string) string {
	return strings.ToLower(normalizeRE.ReplaceAllString(name, "-"))
}

// distName is the name as it appears in wheel and sdist filenames and in the
// .dist-info directory: normalized, with underscores.
func distName(name string) string {
	return strings.ReplaceAll(Normalize(name), "-", "_")
}

// importName is the top-level Python package the builders put in a
// distribution: the underscored normalized name, made a valid identifier.
func importName(name string) string {
	n := distName(name)
	if n == "" || (n[0] >= '0' && n[0] <= '9') {
		n = "pkg_" + n
	}
	return n
}

// fixedTime is the timestamp of every archive member, so builds are
// byte-for-byte reproducible.
var fixedTime = time.Date(2020, 2, 2, 0, 0, 0, 0, time.UTC)

// coreMetadata renders core metadata (METADATA / PKG-INFO), version 2.1.
func coreMetadata(name, version string, requires []string, requiresPython string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "Metadata-Version: 2.1\n")
	fmt.Fprintf(&b, "Name: %s\n", name)
	fmt.Fprintf(&b, "Version: %s\n", version)
	fmt.Fprintf(&b, "Summary: %s, a test package served by pypitest\n", name)
	if requiresPython != "" {
		fmt.Fprintf(&b, "Requires-Python: %s\n", requiresPython)
	}
	for _, r := range requires {
		fmt.Fprintf(&b, "Requires-Dist: %s\n", r)
	}
	return b.Bytes()
}

func initPy(name, version string) []byte {
	return []byte(fmt.Sprintf("\"\"\"%s, built by pypitest.\"\"\"\n\n__version__ = %q\n", name, version))
}

// WheelFilename is the filename Wheel gives the wheel of name and version.
func WheelFilename(name, version string) string {
	return fmt.Sprintf("%s-%s-py3-none-any.whl", distName(name), version)
}

// SdistFilename is the filename Sdist gives the sdist of name and version.
func SdistFilename(name, version string) string {
	return fmt.Sprintf("%s-%s.tar.gz", distName(name), version)
}

// WheelMetadata returns the METADATA file embedded in the wheel that Wheel
// builds from the same arguments: the file served as the PEP 658
// "<wheel>.metadata".
func WheelMetadata(name, version string, requires []string, requiresPython string) []byte {
	return coreMetadata(name, version, requires, requiresPython)
}

// Wheel builds a pure-Python wheel that pip can install:
// "{dist}-{version}-py3-none-any.whl" holding {pkg}/__init__.py (which sets
// __version__), and {dist}-{version}.dist-info/ with METADATA, WHEEL and a
// RECORD whose digests and sizes are right. The bytes are deterministic.
func Wheel(name, version string, requires []string, requiresPython string) (filename string, data []byte) {
	dist := distName(name)
	info := fmt.Sprintf("%s-%s.dist-info", dist, version)
	members := []struct {
		name string
		data []byte
	}{
		{importName(name) + "/__init__.py", initPy(name, version)},
		{info + "/METADATA", WheelMetadata(name, version, requires, requiresPython)},
		{info + "/WHEEL", []byte("Wheel-Version: 1.0\nGenerator: pypitest (1.0)\nRoot-Is-Purelib: true\nTag: py3-none-any\n\n")},
	}
	var record bytes.Buffer
	for _, m := range members {
		sum := sha256.Sum256(m.data)
		fmt.Fprintf(&record, "%s,sha256=%s,%d\n", m.name, base64.RawURLEncoding.EncodeToString(sum[:]), len(m.data))
	}
	fmt.Fprintf(&record, "%s/RECORD,,\n", info)
	members = append(members, struct {
		name string
		data []byte
	}{info + "/RECORD", record.Bytes()})

	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, m := range members {
		h := &zip.FileHeader{Name: m.name, Method: zip.Deflate, Modified: fixedTime}
		h.SetMode(0o644)
		w, err := zw.CreateHeader(h)
		if err != nil {
			panic(err) // writing to memory cannot fail
		}
		if _, err := w.Write(m.data); err != nil {
			panic(err)
		}
	}
	if err := zw.Close(); err != nil {
		panic(err)
	}
	return WheelFilename(name, version), buf.Bytes()
}

// Sdist builds a well-formed source distribution
// "{dist}-{version}.tar.gz": one top directory "{dist}-{version}/" holding
// PKG-INFO, pyproject.toml, {pkg}/__init__.py and pypitest_backend.py, an
// in-tree PEP 517 backend that uses the Python standard library only. So the
// sdist builds offline, with or without build isolation (pip download, pip
// install), without setuptools or wheel. The bytes are deterministic.
func Sdist(name, version string, requires []string) (filename string, data []byte) {
	top := fmt.Sprintf("%s-%s", distName(name), version)
	var deps []string
	for _, r := range requires {
		deps = append(deps, fmt.Sprintf("%q", r))
	}
	pyproject := fmt.Sprintf(`[build-system]
requires = []
build-backend = "pypitest_backend"
backend-path = ["."]

[project]
name = %q
version = %q
description = "%s, a test package served by pypitest"
dependencies = [%s]
`, name, version, name, strings.Join(deps, ", "))
	backend := strings.NewReplacer("@DIST@", distName(name), "@VERSION@", version, "@PACKAGE@", importName(name)).Replace(backendPy)
	members := []struct {
		name string
		data []byte
	}{
		{top + "/PKG-INFO", coreMetadata(name, version, requires, "")},
		{top + "/pyproject.toml", []byte(pyproject)},
		{top + "/" + importName(name) + "/__init__.py", initPy(name, version)},
		{top + "/pypitest_backend.py", []byte(backend)},
	}

	var buf bytes.Buffer
	gz, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	tw := tar.NewWriter(gz)
	dirs := map[string]bool{}
	writeDir := func(d string) {
		if dirs[d] {
			return
		}
		dirs[d] = true
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755, ModTime: fixedTime, Format: tar.FormatUSTAR}); err != nil {
			panic(err)
		}
	}
	for _, m := range members {
		for i := 0; i < len(m.name); i++ {
			if m.name[i] == '/' {
				writeDir(m.name[:i])
			}
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: m.name, Mode: 0o644, Size: int64(len(m.data)), ModTime: fixedTime, Format: tar.FormatUSTAR}); err != nil {
			panic(err)
		}
		if _, err := tw.Write(m.data); err != nil {
			panic(err)
		}
	}
	if err := tw.Close(); err != nil {
		panic(err)
	}
	if err := gz.Close(); err != nil {
		panic(err)
	}
	return SdistFilename(name, version), buf.Bytes()
}

// backendPy is the in-tree build backend every Sdist carries.
const backendPy = `"""PEP 517 build backend written by pypitest.

It uses the Python standard library only, so this sdist builds offline,
without setuptools or wheel.
"""
import base64
import hashlib
import os
import tarfile
import zipfile

DIST = "@DIST@"
VERSION = "@VERSION@"
PACKAGE = "@PACKAGE@"
DIST_INFO = DIST + "-" + VERSION + ".dist-info"
WHEEL = "Wheel-Version: 1.0\nGenerator: pypitest (1.0)\nRoot-Is-Purelib: true\nTag: py3-none-any\n\n"


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def _dist_info():
    return [("METADATA", _read("PKG-INFO")), ("WHEEL", WHEEL.encode())]


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    directory = os.path.join(metadata_directory, DIST_INFO)
    os.makedirs(directory, exist_ok=True)
    for name, data in _dist_info():
        with open(os.path.join(directory, name), "wb") as f:
            f.write(data)
    return DIST_INFO


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    members = []
    for root, dirs, files in os.walk(PACKAGE):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(root, name)
            members.append((path.replace(os.sep, "/"), _read(path)))
    for name, data in _dist_info():
        members.append((DIST_INFO + "/" + name, data))
    record = ""
    for name, data in members:
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record += "%s,sha256=%s,%d\n" % (name, digest, len(data))
    record += DIST_INFO + "/RECORD,,\n"
    members.append((DIST_INFO + "/RECORD", record.encode()))
    filename = DIST + "-" + VERSION + "-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, filename), "w") as archive:
        for name, data in members:
            info = zipfile.ZipInfo(name, (2020, 2, 2, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return filename


def build_sdist(sdist_directory, config_settings=None):
    top = DIST + "-" + VERSION
    filename = top + ".tar.gz"
    with tarfile.open(os.path.join(sdist_directory, filename), "w:gz") as archive:
        for name in ["PKG-INFO", "pyproject.toml", "pypitest_backend.py", PACKAGE]:
            archive.add(name, arcname=top + "/" + name)
    return filename
`

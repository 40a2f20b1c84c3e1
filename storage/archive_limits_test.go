package storage

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

// gnuSparseManifest is a GNU sparse entry named manifest.json that is all
// hole: 512 bytes in the archive, realSize bytes of zeros to a reader.
func gnuSparseManifest(t *testing.T, realSize int64) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeGNUSparse, Name: manifestEntry, Format: tar.FormatGNU}); err != nil {
		t.Fatal(err)
	}
	tw.Close()
	b := buf.Bytes()
	// archive/tar writes no sparse map: set the real size by hand (GNU's
	// old sparse header keeps it at offset 483) and the checksum again.
	copy(b[483:495], fmt.Sprintf("%011o\x00", realSize))
	copy(b[148:156], "        ")
	sum := 0
	for _, c := range b[:512] {
		sum += int(c)
	}
	copy(b[148:156], fmt.Sprintf("%06o\x00 ", sum))
	return b
}

// readBudget fails a read once more than n bytes were asked of it, so that
// a test of a limit cannot turn into reading a gigabyte.
type readBudget struct {
	r    io.Reader
	n    int64
	read int64
}

var errOverBudget = errors.New("the import read past the test's budget")

func (b *readBudget) Read(p []byte) (int, error) {
	if b.read > b.n {
		return 0, errOverBudget
	}
	n, err := b.r.Read(p)
	b.read += int64(n)
	return n, err
}

// zeros reads as an endless run of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func TestImportRefusesAManifestOverTheLimitBeforeReadingIt(t *testing.T) {
	var hdr bytes.Buffer
	tw := tar.NewWriter(&hdr)
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: manifestEntry, Size: 1 << 30, Mode: 0o644}); err != nil {
		t.Fatal(err)
	}
	// No tw.Close: the header alone, followed by a gigabyte to come.
	budget := &readBudget{r: io.MultiReader(bytes.NewReader(hdr.Bytes()), zeros{}), n: 4 << 20}
	_, err := newStore(t).Import(t.Context(), budget, ImportOptions{})
	var ae *ArchiveError
	if !errors.As(err, &ae) || ae.Entry != manifestEntry || !strings.Contains(err.Error(), "limit") {
		t.Errorf("Import = %v, want an error at %s naming the size limit", err, manifestEntry)
	}
	if errors.Is(err, errOverBudget) {
		t.Errorf("the import read %d bytes of a manifest over the limit", budget.read)
	}
}

func TestImportRefusesASparseManifest(t *testing.T) {
	// 1 GiB of holes in a 2 KB archive: reading it whole took 2.1 GB.
	archive := gnuSparseManifest(t, 1<<30)
	_, err := newStore(t).Import(t.Context(), bytes.NewReader(archive), ImportOptions{})
	var ae *ArchiveError
	if !errors.As(err, &ae) || ae.Entry != manifestEntry || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("Import = %v, want an error at %s saying it is not a regular file", err, manifestEntry)
	}
}

func TestImportAcceptsOnlyRegularFileEntries(t *testing.T) {
	src := seed(t)
	archive := export(t, src.Store, ExportFilter{})
	for _, tt := range []struct {
		name  string
		entry string
		edit  func(h *tar.Header)
	}{
		{"a manifest that is a symbolic link", manifestEntry, func(h *tar.Header) { h.Typeflag, h.Size, h.Linkname = tar.TypeSymlink, 0, "/etc/passwd" }},
		{"a manifest that is a hard link", manifestEntry, func(h *tar.Header) { h.Typeflag, h.Size, h.Linkname = tar.TypeLink, 0, "elsewhere" }},
		{"an end marker that is a character device", endEntry, func(h *tar.Header) { h.Typeflag, h.Size, h.Devmajor = tar.TypeChar, 0, 1 }},
		{"an end marker that is a folder", endEntry, func(h *tar.Header) { h.Typeflag, h.Size = tar.TypeDir, 0 }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			broken := rewrite(t, archive, func(h *tar.Header) {
				if h.Name == tt.entry {
					tt.edit(h)
				}
			})
			_, err := newStore(t).Import(t.Context(), bytes.NewReader(broken), ImportOptions{})
			var ae *ArchiveError
			if !errors.As(err, &ae) || ae.Entry != tt.entry || !strings.Contains(err.Error(), "not a regular file") {
				t.Errorf("Import = %v, want an error at %s saying it is not a regular file", err, tt.entry)
			}
		})
	}
}

// paxSparse is an archive of one entry in GNU's PAX sparse format 0.1:
// data at the start, then holes up to realSize. The entry keeps the regular
// type flag; archive/tar writes no such records, so its extended header is
// made by hand.
func paxSparse(t *testing.T, name string, data []byte, realSize int64) []byte {
	t.Helper()
	record := func(k, v string) string {
		s := " " + k + "=" + v + "\n"
		n := len(s)
		for len(fmt.Sprint(n))+len(s) != n {
			n = len(fmt.Sprint(n)) + len(s)
		}
		return fmt.Sprint(n) + s
	}
	recs := record("GNU.sparse.size", fmt.Sprint(realSize)) + record("GNU.sparse.numblocks", "1") +
		record("GNU.sparse.map", fmt.Sprintf("0,%d", len(data)))
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "PaxHeaders/" + name, Size: int64(len(recs)), Format: tar.FormatUSTAR})
	tw.Write([]byte(recs))
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Size: int64(len(data)), Mode: 0o644, Format: tar.FormatUSTAR})
	tw.Write(data)
	tw.Close()
	b := buf.Bytes()
	b[156] = tar.TypeXHeader
	copy(b[148:156], "        ")
	sum := 0
	for _, c := range b[:512] {
		sum += int(c)
	}
	copy(b[148:156], fmt.Sprintf("%06o\x00 ", sum))
	return b
}

func TestImportRefusesPAXSparseEntries(t *testing.T) {
	// A PAX sparse file keeps the regular type flag: its GNU.sparse records
	// are what make the reader expand holes.
	archive := paxSparse(t, manifestEntry, []byte(`{"format":1}`), 4096)
	_, err := newStore(t).Import(t.Context(), bytes.NewReader(archive), ImportOptions{})
	var ae *ArchiveError
	if !errors.As(err, &ae) || ae.Entry != manifestEntry || !strings.Contains(err.Error(), "sparse") {
		t.Errorf("Import = %v, want an error at %s about a sparse entry", err, manifestEntry)
	}
}

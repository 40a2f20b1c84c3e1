package pypi

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/larder-mirror/larder/storage"
)

// wheelMetadata reads the core metadata (.dist-info/METADATA) of the kept
// wheel a: what pip reads from a wheel it downloads when the index offers
// no PEP 658 metadata file. The blob is read where it is (positioned reads
// of a file, ranged ones on S3): a zip's directory is at its end, and only
// the one member is inflated, within maxMetadata.
func (g *Registry) wheelMetadata(ctx context.Context, a storage.Artifact) (about, error) {
	rc, size, err := g.up.OpenKept(ctx, a)
	if err != nil {
		return about{}, err
	}
	defer rc.Close()
	z, err := zip.NewReader(readerAt(rc), size)
	if err != nil {
		return about{}, fmt.Errorf("%s is not a zip: %w", a.Path, err)
	}
	member := metadataMember(z, a.Path[strings.LastIndexByte(a.Path, '/')+1:])
	if member == nil {
		return about{}, fmt.Errorf("%s has no .dist-info/METADATA", a.Path)
	}
	r, err := member.Open()
	if err != nil {
		return about{}, fmt.Errorf("%s: %s: %w", a.Path, member.Name, err)
	}
	defer r.Close()
	return aboutFromMetadata(r)
}

// metadataMember is the wheel's {distribution}-{version}.dist-info/METADATA
// (PEP 427), by the distribution and version its filename names; or, when
// the names differ (an older tool's escaping), the only top-level
// .dist-info/METADATA there is.
func metadataMember(z *zip.Reader, filename string) *zip.File {
	parts := strings.SplitN(strings.TrimSuffix(filename, ".whl"), "-", 3)
	want := ""
	if len(parts) == 3 {
		want = parts[0] + "-" + parts[1] + ".dist-info/METADATA"
	}
	var only *zip.File
	found := 0
	for _, f := range z.File {
		if strings.EqualFold(f.Name, want) {
			return f
		}
		dir, rest, ok := strings.Cut(f.Name, "/")
		if ok && rest == "METADATA" && strings.HasSuffix(dir, ".dist-info") {
			only, found = f, found+1
		}
	}
	if found != 1 {
		return nil
	}
	return only
}

// readerAt reads rs at offsets: directly when it can, else by seeking. The
// seeking form is for one reader at a time, as archive/zip reads.
func readerAt(rs io.ReadSeeker) io.ReaderAt {
	if ra, ok := rs.(io.ReaderAt); ok {
		return ra
	}
	return seekingReaderAt{rs}
}

type seekingReaderAt struct{ rs io.ReadSeeker }

func (s seekingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if _, err := s.rs.Seek(off, io.SeekStart); err != nil {
		return 0, err
	}
	n, err := io.ReadFull(s.rs, p)
	if errors.Is(err, io.ErrUnexpectedEOF) {
		err = io.EOF // ReadAt's word for a read cut short by the end
	}
	return n, err
}

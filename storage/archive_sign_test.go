package storage

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"testing"
)

func exportSigned(t *testing.T, s *Store, key []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := s.Export(t.Context(), &buf, ExportOptions{Now: at(1000), Key: key}); err != nil {
		t.Fatalf("Export: %v", err)
	}
	return buf.Bytes()
}

func TestASignedArchiveImportsOnlyWithItsKey(t *testing.T) {
	src := seed(t)
	key := []byte("this site's own archive key, 32+")
	signed := exportSigned(t, src.Store, key)
	unsigned := export(t, src.Store, ExportFilter{})

	sum, err := newStore(t).Import(t.Context(), bytes.NewReader(signed), ImportOptions{Key: key})
	if err != nil || !sum.Signed || !sum.SignatureChecked || sum.ArtifactsWritten != 4 {
		t.Errorf("Import with the key = %+v, %v; want every artifact and the signature checked", sum, err)
	}
	sum, err = newStore(t).Import(t.Context(), bytes.NewReader(signed), ImportOptions{})
	if err != nil || !sum.Signed || sum.SignatureChecked {
		t.Errorf("Import without a key = %+v, %v; want it imported, signed but unchecked", sum, err)
	}

	// A manifest changed and hashed again (the end marker agrees) no
	// longer matches its signature.
	forged := rewriteManifest(t, signed, func(b []byte) []byte {
		return bytes.Replace(b, []byte(`"version":"4.17.21"`), []byte(`"version":"4.17.99"`), 1)
	})
	for _, tt := range []struct {
		name    string
		archive []byte
		key     []byte
	}{
		{"another site's key", signed, []byte("another site's key, just as long")},
		{"an unsigned archive", unsigned, key},
		{"a manifest changed after signing", forged, key},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dst := newStore(t)
			before := state(t, dst)
			_, err := dst.Import(t.Context(), bytes.NewReader(tt.archive), ImportOptions{Key: tt.key})
			var ae *ArchiveError
			if !errors.Is(err, ErrSignature) || !errors.As(err, &ae) || ae.Entry != signEntry {
				t.Errorf("Import = %v, want a signature failure at %s", err, signEntry)
			}
			after := state(t, dst)
			for _, k := range []string{"packages", "documents", "artifacts", "blobs"} {
				wantSame(t, k+" after a refused import", after[k], before[k])
			}
		})
	}
}

// rewriteManifest changes an archive's manifest and writes the end marker
// to match, as anyone can; the signature entry is left as it was.
func rewriteManifest(t *testing.T, archive []byte, edit func([]byte) []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	tr, tw := tar.NewReader(bytes.NewReader(archive)), tar.NewWriter(&out)
	var manifest []byte
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		switch h.Name {
		case manifestEntry:
			manifest = edit(body)
			body = manifest
		case endEntry:
			sum := sha256.Sum256(manifest)
			body = []byte(hex.EncodeToString(sum[:]) + "\n")
		}
		h.Size = int64(len(body))
		tw.WriteHeader(h)
		tw.Write(body)
	}
	tw.Close()
	return out.Bytes()
}

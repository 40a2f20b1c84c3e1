package registries

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

func TestReadAllReadsWhatIoReadAllReads(t *testing.T) {
	for _, n := range []int{0, 1, copyBufferSize - 1, copyBufferSize, copyBufferSize + 1, 3*copyBufferSize + 17} {
		want := make([]byte, n)
		for i := range want {
			want[i] = byte(i * 7)
		}
		for name, r := range map[string]io.Reader{
			"whole":          bytes.NewReader(want),
			"a byte at once": iotest.OneByteReader(bytes.NewReader(want)),
			"EOF with data":  iotest.DataErrReader(bytes.NewReader(want)),
		} {
			got, err := readAll(r)
			if err != nil || !bytes.Equal(got, want) || got == nil {
				t.Errorf("%d bytes, %s: got %d bytes (nil %v), err %v", n, name, len(got), got == nil, err)
			}
		}
	}
}

func TestReadAllReturnsWhatItReadBeforeAnError(t *testing.T) {
	broken := errors.New("connection reset")
	want := bytes.Repeat([]byte("x"), copyBufferSize+5)
	got, err := readAll(io.MultiReader(bytes.NewReader(want), iotest.ErrReader(broken)))
	if !errors.Is(err, broken) || !bytes.Equal(got, want) {
		t.Errorf("got %d bytes and %v, want %d bytes and %v", len(got), err, len(want), broken)
	}
}

// BenchmarkReadAllOfALargeDocument reads a body of 400 KB, a packument of
// some hundreds of versions, with io.ReadAll and with readAll.
func BenchmarkReadAllOfALargeDocument(b *testing.B) {
	body := bytes.Repeat([]byte(`{"version":"1.0.0"},`), 20000)
	for name, read := range map[string]func(io.Reader) ([]byte, error){"io.ReadAll": io.ReadAll, "readAll": readAll} {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, err := read(bytes.NewReader(body)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

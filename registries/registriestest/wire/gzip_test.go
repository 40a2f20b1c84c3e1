package wire

import (
	"bytes"
	"compress/gzip"
	"io"
	"strings"
	"sync"
	"testing"
)

func TestGzipRoundTripsWhileWritersAreShared(t *testing.T) {
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := []byte(strings.Repeat(string(rune('a'+i)), 1000+i))
			for range 20 {
				zr, err := gzip.NewReader(bytes.NewReader(Gzip(body)))
				if err != nil {
					t.Error(err)
					return
				}
				got, err := io.ReadAll(zr)
				if err != nil || !bytes.Equal(got, body) {
					t.Errorf("round trip of %d bytes: %d bytes, %v", len(body), len(got), err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

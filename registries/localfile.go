package registries

import (
	"fmt"
	"io"
	"os"
)

// ReadLocalFile reads a regular file of at most limit bytes, such as a
// lockfile a user names: a device, a FIFO or a huge file is refused.
func ReadLocalFile(path string, limit int64) ([]byte, error) {
	data, err := ReadLocalHead(path, limit+1)
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, limit)
	}
	return data, nil
}

// ReadLocalHead reads the first n bytes (or fewer) of a regular file: a
// device or a FIFO is refused.
func ReadLocalHead(path string, n int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil {
		return nil, err
	} else if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	return io.ReadAll(io.LimitReader(f, n))
}

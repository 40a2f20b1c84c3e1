package storage

import (
	"os"
	"syscall"
)

// spoolMinFree is the free space under which the spool folder's disk is
// taken for full: a blob's bytes would fail to be kept there.
const spoolMinFree = 1 << 20

// spoolRoom says whether dir exists and its disk has room for a blob.
func spoolRoom(dir string) error {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return &os.PathError{Op: "statfs", Path: dir, Err: err}
	}
	if st.Bavail*uint64(st.Bsize) < spoolMinFree {
		// A PathError, as from the file it could not make: clients are
		// told why without the server's path.
		return &os.PathError{Op: "statfs", Path: dir, Err: syscall.ENOSPC}
	}
	return nil
}

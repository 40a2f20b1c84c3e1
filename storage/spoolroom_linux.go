package storage

import (
	"os"
	"sync"
	"syscall"
	"time"
)

// spoolMinFree is the free space under which the spool folder's disk is
// taken for full: a blob's bytes would fail to be kept there.
const spoolMinFree = 1 << 20

// A disk found to have roomyFree bytes free is taken to have room for
// roomyFor without asking again: a cold install makes a blob writer for
// each package, and a statfs for each was a fiftieth of larder's CPU in
// one. A disk that fills (or a folder removed) in that time fails the
// blob's write or its keeping instead of its Create: an error all the
// same, only later. Nearer full, every writer asks.
const (
	roomyFree = 256 << 20
	roomyFor  = time.Second
)

// roomyUntil maps a spool folder to when its last roomy answer expires.
var roomyUntil sync.Map

// spoolRoom says whether dir exists and its disk has room for a blob.
func spoolRoom(dir string) error {
	now := time.Now()
	if until, ok := roomyUntil.Load(dir); ok && now.Before(until.(time.Time)) {
		return nil
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		roomyUntil.Delete(dir)
		return &os.PathError{Op: "statfs", Path: dir, Err: err}
	}
	free := st.Bavail * uint64(st.Bsize)
	if free >= roomyFree {
		roomyUntil.Store(dir, now.Add(roomyFor))
	} else {
		roomyUntil.Delete(dir)
	}
	if free < spoolMinFree {
		// A PathError, as from the file it could not make: clients are
		// told why without the server's path.
		return &os.PathError{Op: "statfs", Path: dir, Err: syscall.ENOSPC}
	}
	return nil
}

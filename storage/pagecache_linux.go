package storage

import (
	"os"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// sysCachestat is cachestat(2) (Linux 6.5) on amd64 and arm64 alike.
const sysCachestat = 451

// noCachestat is set once the kernel has said it lacks or forbids cachestat.
var noCachestat atomic.Bool

// inPageCache reports whether the n bytes of fd from off are all in the
// page cache, by cachestat(2): a count kept per folio, a few hundred
// nanoseconds for 2 MB, where mincore on a mapping walks every page.
// False when the kernel cannot tell.
func inPageCache(fd uintptr, off, n int64) bool {
	if noCachestat.Load() {
		return false
	}
	page := int64(os.Getpagesize())
	first, end := off&^(page-1), (off+n+page-1)&^(page-1)
	span := struct{ off, len uint64 }{uint64(first), uint64(end - first)}
	var stat struct{ cache, dirty, writeback, evicted, recentlyEvicted uint64 }
	// It takes no lock that can wait on the disk: no need to tell the
	// scheduler.
	_, _, errno := syscall.RawSyscall6(sysCachestat, fd, uintptr(unsafe.Pointer(&span)), uintptr(unsafe.Pointer(&stat)), 0, 0, 0)
	if errno == syscall.ENOSYS || errno == syscall.EPERM { // an older kernel, or a seccomp filter
		noCachestat.Store(true)
	}
	return errno == 0 && int64(stat.cache) == (end-first)/page
}

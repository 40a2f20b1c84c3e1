package storage

import (
	"os"
	"syscall"
	"unsafe"
)

// CachestatRefused says why cachestat(2) cannot tell what of b is in the
// page cache here: the kernel lacks it (ENOSYS, before Linux 6.5) or a
// seccomp filter forbids it (EPERM, as some container runtimes do). nil
// when it answers.
func CachestatRefused(b *SharedBlob) error {
	fd := b.fd
	span := struct{ off, len uint64 }{0, uint64(os.Getpagesize())}
	var stat struct{ cache, dirty, writeback, evicted, recentlyEvicted uint64 }
	_, _, errno := syscall.RawSyscall6(sysCachestat, fd, uintptr(unsafe.Pointer(&span)), uintptr(unsafe.Pointer(&stat)), 0, 0, 0)
	if errno == syscall.ENOSYS || errno == syscall.EPERM {
		return errno
	}
	return nil
}

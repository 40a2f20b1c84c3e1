//go:build !linux

package storage

// pageMap answers Resident on Linux only; elsewhere it cannot tell.
type pageMap struct{}

func (*pageMap) resident(fd uintptr, size, off, n int64) bool { return false }

func (*pageMap) unmap() {}

//go:build !linux

package storage

// inPageCache can tell only on Linux.
func inPageCache(fd uintptr, off, n int64) bool { return false }

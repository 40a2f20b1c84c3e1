package storage

import (
	"os"
	"sync"
	"syscall"
	"unsafe"
)

// maxMappedBlob bounds the blobs Resident answers for: the mapping costs
// address space only, but a larger blob is sent in many calls, where one
// that blocks on the disk matters little.
const maxMappedBlob = 64 << 20

// pageMap maps a blob, read-only and only to ask mincore(2) which of its
// pages the page cache holds: the mapping is never read, so it adds
// nothing to the process's resident memory.
type pageMap struct {
	once sync.Once
	data []byte
}

func (m *pageMap) resident(fd uintptr, size, off, n int64) bool {
	if n <= 0 || off < 0 || off+n > size || size > maxMappedBlob {
		return false
	}
	m.once.Do(func() {
		if data, err := syscall.Mmap(int(fd), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED); err == nil {
			m.data = data
		}
	})
	if m.data == nil {
		return false
	}
	page := int64(os.Getpagesize())
	var vec [512]byte
	for at, end := off&^(page-1), off+n; at < end; {
		span := min(end-at, int64(len(vec))*page)
		if mincore(m.data[at:at+span], vec[:]) != nil {
			return false
		}
		for _, v := range vec[:(span+page-1)/page] {
			if v&1 == 0 {
				return false
			}
		}
		at += span
	}
	return true
}

// unmap is called once the blob is closed and nobody asks any more.
func (m *pageMap) unmap() {
	if m.data != nil {
		syscall.Munmap(m.data)
		m.data = nil
	}
}

// mincore is mincore(2), which the syscall package does not wrap: vec gets
// a byte a page of b, its low bit set when the page is in memory.
func mincore(b, vec []byte) error {
	_, _, errno := syscall.Syscall(syscall.SYS_MINCORE, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), uintptr(unsafe.Pointer(&vec[0])))
	if errno != 0 {
		return errno
	}
	return nil
}

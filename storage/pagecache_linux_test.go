package storage_test

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
)

// dropPages asks the kernel to drop path's clean pages from the page cache,
// or says why it cannot: a tmpfs holds its files only there.
func dropPages(path string) error {
	var fs syscall.Statfs_t
	if err := syscall.Statfs(filepath.Dir(path), &fs); err != nil {
		return err
	}
	const tmpfsMagic = 0x01021994
	if fs.Type == tmpfsMagic {
		return errors.New("the blob folder is on a tmpfs")
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	const posixFadvDontneed = 4
	if _, _, errno := syscall.Syscall6(syscall.SYS_FADVISE64, f.Fd(), 0, 0, posixFadvDontneed, 0, 0); errno != 0 {
		return errno
	}
	return nil
}

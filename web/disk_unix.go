//go:build linux || darwin

package web

import "syscall"

// diskSpace reports the free (to unprivileged users) and total bytes of the
// volume that holds dir.
func diskSpace(dir string) (free, total int64, ok bool) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, 0, false
	}
	return int64(st.Bavail) * int64(st.Bsize), int64(st.Blocks) * int64(st.Bsize), true
}

//go:build !(linux || darwin)

package web

// diskSpace is unknown on this system.
func diskSpace(dir string) (free, total int64, ok bool) { return 0, 0, false }

//go:build !linux

package backendtest

import "syscall"

// dieWithTest: only Linux can tie a child's life to its parent's; elsewhere
// Stop must run.
func dieWithTest() *syscall.SysProcAttr { return nil }

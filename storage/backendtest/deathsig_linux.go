package backendtest

import "syscall"

// dieWithTest makes a server the test starts get SIGKILL when the test
// process ends, however it ends (a -timeout panic runs no Stop).
func dieWithTest() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

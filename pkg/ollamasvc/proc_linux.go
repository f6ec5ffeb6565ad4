//go:build linux

package ollamasvc

import "syscall"

// setParentDeath makes the kernel send the child SIGTERM when the service
// dies, also by kill -9: the child's context ends, its HTTP request is
// abandoned, and it releases its job (childMain) instead of holding the row
// running until the request ends. SIGTERM, not SIGKILL, so the child can
// write that release. The signal follows the thread that started the child;
// the Go runtime does not end threads of goroutines that never locked one.
func setParentDeath(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGTERM }

//go:build linux

package ollamasvc

import (
	"os"
	"syscall"
)

// parentDeathSignal is what the kernel sends a child when the service dies,
// also by kill -9 (Pdeathsig). Not SIGTERM: the service itself stops
// children with SIGTERM (timeout, cancel, shutdown) and then writes their
// end state; a child told by this signal that its service is gone releases
// its job itself (WatchParent). Checking the parent pid instead races: the
// signal follows the exit of the thread that started the child, and the
// other threads of a dying service still count as its parent for a moment.
const parentDeathSignal = syscall.SIGHUP

func setParentDeath(a *syscall.SysProcAttr) { a.Pdeathsig = parentDeathSignal }

func parentDeathSignals() []os.Signal { return []os.Signal{parentDeathSignal} }

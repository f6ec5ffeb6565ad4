//go:build !windows && !linux

package ollamasvc

import (
	"os"
	"syscall"
)

// setParentDeath: other Unix systems have no parent-death signal; an
// orphaned child ends with its request (ModeBudget bounds it) and stuck
// recovery takes back its job (the owner's pid is gone).
func setParentDeath(*syscall.SysProcAttr) {}

func parentDeathSignals() []os.Signal { return nil }

//go:build svfault && !unix

package mediaops

import "os"

// killSelf ends the process without cleanup (closest to kill -9).
func killSelf() { os.Exit(137) }

package cliapp

import (
	"os"
	"runtime/debug"
)

// Garbage-collector settings of ThroughputGC.
const (
	throughputGCPercent = 400
	throughputMemLimit  = 512 << 20
)

// TuneThroughputGC applies the ThroughputGC settings to this process (for
// benchmarks that run the importer in-process as the binaries run it). It
// returns a function restoring the previous settings.
func TuneThroughputGC() (restore func()) {
	pct, lim := debug.SetGCPercent(100), debug.SetMemoryLimit(-1)
	debug.SetGCPercent(pct)
	tuneThroughputGC(os.Getenv)
	return func() { debug.SetGCPercent(pct); debug.SetMemoryLimit(lim) }
}

// tuneThroughputGC trades memory for CPU in a batch process that
// allocates many short-lived objects: the importer spent about a tenth of
// its CPU in the collector at the default GOGC=100 (its live heap is a few
// tens of MiB). The soft memory limit makes the collector work harder
// again before the heap passes 512 MiB. GOGC and GOMEMLIMIT from the
// environment win.
func tuneThroughputGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(throughputGCPercent)
	}
	if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(throughputMemLimit)
	}
}

//go:build !unix

package catalog

import (
	"testing"
	"time"
)

// cpuTime is not measured here (the benchmarks report 0 CPU time).
func cpuTime(*testing.B) time.Duration { return 0 }

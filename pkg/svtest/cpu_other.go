//go:build !unix

package svtest

import "time"

// processCPU is unknown here; the metric then reports 0.
func processCPU() time.Duration { return 0 }

//go:build !unix

package svtest

import "time"

// ProcessCPU is not measured here (metrics report 0).
func ProcessCPU() time.Duration { return 0 }

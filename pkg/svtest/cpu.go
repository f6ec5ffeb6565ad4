package svtest

import (
	"testing"
	"time"
)

// CPUMeter measures the process's CPU time (user + system, every
// goroutine and cgo thread: SQLite runs on the calling thread) across a
// benchmark loop. Wall time hides CPU cost on an idle machine; CPU per
// operation is what limits throughput when every core is busy.
type CPUMeter struct{ start time.Duration }

// StartCPU begins a measurement.
func StartCPU() CPUMeter { return CPUMeter{start: ProcessCPU()} }

// Report adds the CPU time per operation as the cpu-µs/op metric; ops is
// the number of operations done since StartCPU (b.N for a b.Loop).
func (m CPUMeter) Report(b *testing.B, ops int) {
	if ops <= 0 {
		return
	}
	b.ReportMetric(float64((ProcessCPU()-m.start).Microseconds())/float64(ops), "cpu-µs/op")
}

package cliapp

import (
	"runtime/debug"
	"testing"
)

// tuneThroughputGC sets GOGC 400 and the 512 MiB soft limit unless the
// environment sets them.
func TestTuneThroughputGC(t *testing.T) {
	prevPct := debug.SetGCPercent(100)
	prevLim := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetGCPercent(prevPct); debug.SetMemoryLimit(prevLim) })
	cases := []struct {
		name       string
		env        map[string]string
		wantPct    int
		wantLimit  int64
		startPct   int
		startLimit int64
	}{
		{"defaults", nil, throughputGCPercent, throughputMemLimit, 100, 1 << 40},
		{"GOGC set", map[string]string{"GOGC": "150"}, 150, throughputMemLimit, 150, 1 << 40},
		{"GOMEMLIMIT set", map[string]string{"GOMEMLIMIT": "1GiB"}, throughputGCPercent, 1 << 30, 100, 1 << 30},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			debug.SetGCPercent(c.startPct)
			debug.SetMemoryLimit(c.startLimit)
			tuneThroughputGC(func(k string) string { return c.env[k] })
			if got := debug.SetGCPercent(c.startPct); got != c.wantPct {
				t.Errorf("GOGC %d, want %d", got, c.wantPct)
			}
			if got := debug.SetMemoryLimit(-1); got != c.wantLimit {
				t.Errorf("memory limit %d, want %d", got, c.wantLimit)
			}
		})
	}
}

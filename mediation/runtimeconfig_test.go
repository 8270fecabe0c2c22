package mediation

import (
	"runtime/debug"
	"strings"
	"testing"
)

// gcPercent reads the process's GOGC setting.
func gcPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

// TestRuntimeApply: gc_percent and memory_limit_mib set the process's
// collector, and the GOGC and GOMEMLIMIT environment variables win over
// them (the test restores what it changed).
func TestRuntimeApply(t *testing.T) {
	before, limit := gcPercent(), debug.SetMemoryLimit(-1)
	t.Cleanup(func() {
		debug.SetGCPercent(before)
		debug.SetMemoryLimit(limit)
	})
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	if got := (RuntimeConfig{GCPercent: 300, MemoryLimitMiB: 1024}).Apply(); got != "gc_percent 300, memory limit 1024 MiB" {
		t.Errorf("Apply said %q", got)
	}
	if p, l := gcPercent(), debug.SetMemoryLimit(-1); p != 300 || l != 1024<<20 {
		t.Errorf("GOGC %d, memory limit %d after Apply, want 300 and 1 GiB", p, l)
	}
	debug.SetGCPercent(before)
	debug.SetMemoryLimit(limit)
	t.Setenv("GOGC", "150")
	t.Setenv("GOMEMLIMIT", "2GiB")
	got := (RuntimeConfig{GCPercent: 300, MemoryLimitMiB: 1024}).Apply()
	if !strings.Contains(got, "GOGC=150 from the environment") || !strings.Contains(got, "GOMEMLIMIT=2GiB from the environment") {
		t.Errorf("Apply said %q", got)
	}
	if p, l := gcPercent(), debug.SetMemoryLimit(-1); p != before || l != limit {
		t.Errorf("GOGC %d, memory limit %d: the environment's settings were overridden", p, l)
	}
}

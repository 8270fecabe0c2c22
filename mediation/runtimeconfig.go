package mediation

import (
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
)

// RuntimeConfig tunes Go's garbage collector for the daemon's process
// (mediation serve): settings of the process, not of one Server, so a
// test process running many servers leaves them alone.
type RuntimeConfig struct {
	// GCPercent is Go's GOGC: a collection starts when the heap has grown
	// this many percent over what the last one left live. The default, 400,
	// trades memory for CPU (README "Performance"); the GOGC environment
	// variable, when set, wins.
	GCPercent int `yaml:"gc_percent"`
	// MemoryLimitMiB is Go's soft memory limit (GOMEMLIMIT) in MiB: near it
	// the collector runs as often as it must, whatever GCPercent says. 0
	// sets none; the GOMEMLIMIT environment variable, when set, wins.
	MemoryLimitMiB int64 `yaml:"memory_limit_mib"`
}

// Bounds of gc_percent: below 25 the collector would run nearly
// continuously; above 2000 the heap could reach twenty times the live one.
const (
	minGCPercent = 25
	maxGCPercent = 2000
)

func (r RuntimeConfig) check() *ConfigError {
	if r.GCPercent < minGCPercent || r.GCPercent > maxGCPercent {
		return invalid("runtime.gc_percent", strconv.Itoa(r.GCPercent), "must be from %d to %d (Go's GOGC; 100 is Go's default)", minGCPercent, maxGCPercent)
	}
	if r.MemoryLimitMiB < 0 {
		return invalid("runtime.memory_limit_mib", strconv.FormatInt(r.MemoryLimitMiB, 10), "must not be negative (0: no limit)")
	}
	return nil
}

// Validate reports a setting out of its bounds, as Config.Validate does
// for the runtime section. (Not check's result as it is: a nil
// *ConfigError in an error is not a nil error.)
func (r RuntimeConfig) Validate() error {
	if err := r.check(); err != nil {
		return err
	}
	return nil
}

// Apply sets the process's garbage collector from r, except what the GOGC
// and GOMEMLIMIT environment variables set, and says what it did.
func (r RuntimeConfig) Apply() string {
	gc := fmt.Sprintf("gc_percent %d", r.GCPercent)
	if v := os.Getenv("GOGC"); v != "" {
		gc = "GOGC=" + v + " from the environment"
	} else {
		debug.SetGCPercent(r.GCPercent)
	}
	switch v := os.Getenv("GOMEMLIMIT"); {
	case v != "":
		return gc + ", GOMEMLIMIT=" + v + " from the environment"
	case r.MemoryLimitMiB > 0:
		debug.SetMemoryLimit(r.MemoryLimitMiB << 20)
		return fmt.Sprintf("%s, memory limit %d MiB", gc, r.MemoryLimitMiB)
	}
	return gc + ", no memory limit"
}

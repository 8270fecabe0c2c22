package bench

import (
	"math"
	"testing"
)

// TestBucketPercentiles: percentiles over a run are read off the growth of
// the daemon's histogram between the two scrapes, as the upper bounds of
// their buckets; past the last bound is -1; no growth, or a histogram that
// went back (a restarted daemon), reads as nothing.
func TestBucketPercentiles(t *testing.T) {
	inf := math.Inf(1)
	before := map[float64]uint64{0.0005: 100, 0.001: 100, 0.01: 100, 1: 100, inf: 100}
	// 1,000 more: 900 under 0.5 ms, 95 more under 1 ms, 4 under 10 ms, 1 over 1 s.
	after := map[float64]uint64{0.0005: 1000, 0.001: 1095, 0.01: 1099, 1: 1099, inf: 1100}
	got, n := bucketPercentiles(before, after)
	if n != 1000 || got != (BucketPercentiles{P50: 0.5, P90: 0.5, P99: 1}) {
		t.Errorf("got %+v over %d, want p50 0.5, p90 0.5, p99 1 ms over 1000", got, n)
	}
	after[0.0005], after[0.001], after[0.01], after[1] = 150, 160, 170, 180 // most past 1 s
	if got, _ := bucketPercentiles(before, after); got.P99 != -1 || got.P50 != -1 {
		t.Errorf("got %+v, want -1 past the last bound", got)
	}
	restartedBusier := map[float64]uint64{0.0005: 0, 0.001: 2000, 0.01: 2000, 1: 2000, inf: 2000}
	for name, a := range map[string]map[float64]uint64{"no growth": before, "restarted": {0.001: 5, inf: 5},
		"restarted, more packets since": restartedBusier, "none": nil} {
		if got, n := bucketPercentiles(before, a); n != 0 || got != (BucketPercentiles{}) {
			t.Errorf("%s: %+v over %d", name, got, n)
		}
	}
	if got, n := bucketPercentiles(nil, map[float64]uint64{0.001: 3, inf: 4}); n != 4 || got.P50 != 1 || got.P99 != -1 {
		t.Errorf("from a page without the histogram before: %+v over %d", got, n)
	}
}

package endpoint

// This file is the histogram of one-way media delays that endpoints fill
// when they stamp their media (ClientConfig.Delays, SBCConfig.Delays).

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// Histogram buckets: values below 1 µs in the first; above it each power
// of two is split in delaySub buckets (a relative error under 1/delaySub,
// about 3 %), up to 2^40 ns (18 minutes), beyond which the last bucket
// takes everything. Fixed size: memory does not grow with the run.
const (
	delaySubBits = 5
	delaySub     = 1 << delaySubBits
	delayMinExp  = 10 // 2^10 ns ~ 1 µs
	delayMaxExp  = 40
	delayBuckets = 1 + (delayMaxExp-delayMinExp)*delaySub
)

// DelayHistogram counts one-way media delays (sender's stamp to
// receiver's arrival) in about a thousand fixed buckets, safe for
// concurrent use by every stream of a run. The zero value is ready.
type DelayHistogram struct {
	counts [delayBuckets]atomic.Uint64
	n      atomic.Uint64
	max    atomic.Int64
}

// delayBucket is the bucket of a delay of ns nanoseconds.
func delayBucket(ns int64) int {
	if ns < 1<<delayMinExp {
		return 0
	}
	exp := bits.Len64(uint64(ns)) - 1 // 2^exp <= ns < 2^(exp+1)
	if exp >= delayMaxExp {
		return delayBuckets - 1
	}
	sub := int(uint64(ns)>>(exp-delaySubBits)) & (delaySub - 1)
	return 1 + (exp-delayMinExp)*delaySub + sub
}

// delayUpper is the largest delay bucket i holds (what a percentile in it
// reports: never less than the true value).
func delayUpper(i int) time.Duration {
	if i == 0 {
		return 1<<delayMinExp - 1
	}
	i--
	exp, sub := delayMinExp+i/delaySub, i%delaySub
	return time.Duration((uint64(delaySub+sub+1) << (exp - delaySubBits)) - 1)
}

// Add counts one delay; a negative one (clock trouble) counts as 0.
func (h *DelayHistogram) Add(d time.Duration) {
	ns := max(int64(d), 0)
	h.counts[delayBucket(ns)].Add(1)
	h.n.Add(1)
	for {
		m := h.max.Load()
		if ns <= m || h.max.CompareAndSwap(m, ns) {
			return
		}
	}
}

// Count is the number of delays added.
func (h *DelayHistogram) Count() uint64 { return h.n.Load() }

// Max is the largest delay added, exactly.
func (h *DelayHistogram) Max() time.Duration { return time.Duration(h.max.Load()) }

// Quantile is the delay below which a share q (0-1) of the delays are, by
// nearest rank, given as its bucket's upper bound (at most the Max); 0 when
// nothing was added.
func (h *DelayHistogram) Quantile(q float64) time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	rank := uint64(q*float64(n) + 0.999999)
	rank = min(max(rank, 1), n)
	var seen uint64
	for i := range h.counts {
		if seen += h.counts[i].Load(); seen >= rank {
			return min(delayUpper(i), h.Max())
		}
	}
	return h.Max()
}

package ladder

import (
	"slices"
	"strings"
	"time"
)

// Filter selects calls; its zero value selects every call.
type Filter struct {
	// Call is a call's own id or the Call-ID of either of its legs.
	Call string
	// Number is (part of) the calling or called number.
	Number string
	// Bypassed and Anchored select by the bypass decision.
	Bypassed, Anchored bool
	// Failed selects calls that ended unanswered.
	Failed bool
	// Since drops calls that started before it.
	Since time.Time
}

// Match reports whether c passes every condition of f.
func (f Filter) Match(c *Call) bool {
	switch {
	case f.Call != "" && c.ID != f.Call && !slices.Contains(c.CallIDs, f.Call):
		return false
	case f.Number != "" && !strings.Contains(c.From, f.Number) && !strings.Contains(c.To, f.Number):
		return false
	case f.Bypassed && !(c.Decided && c.Bypass):
		return false
	case f.Anchored && !(c.Decided && !c.Bypass):
		return false
	case f.Failed && !c.Failed():
		return false
	case !f.Since.IsZero() && c.Start.Before(f.Since):
		return false
	}
	return true
}

// Select keeps the calls f matches.
func (f Filter) Select(calls []*Call) []*Call {
	var out []*Call
	for _, c := range calls {
		if f.Match(c) {
			out = append(out, c)
		}
	}
	return out
}

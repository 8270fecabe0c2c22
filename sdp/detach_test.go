// Detach test: what a kept Media holds on to.

package sdp

import (
	"bytes"
	"runtime"
	"strings"
	"testing"
)

// TestParseRetainsLittle checks that a kept Media holds its own strings,
// not pion's buffers: a call keeps its peers' SDP for its whole life.
// The offer ends with a 3 KB attribute the mediation server does not
// keep; were any kept string a substring of pion's copies, each Media
// would pin a buffer holding it.
func TestParseRetainsLittle(t *testing.T) {
	body := append(bytes.Clone(fixture(t, "sfb-bypass-offer.sdp", true)), "a=x-padding:"+strings.Repeat("x", 3000)+"\r\n"...)
	const n = 500
	kept := make([]Media, n)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range kept {
		m, err := Parse(body)
		if err != nil {
			t.Fatal(err)
		}
		kept[i] = m
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	perMedia := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / n
	t.Logf("%d bytes per kept Media", perMedia)
	if perMedia > 2500 {
		t.Errorf("a kept Media holds %d bytes of heap; the offer's audio section has under 1 KB of text", perMedia)
	}
	runtime.KeepAlive(kept)
}

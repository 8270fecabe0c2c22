package mediation

import (
	"testing"

	gosip "github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"
)

// TestFreshIDsBounded: ids traced for INVITEs that never reach their
// handler (refused by the side first) do not pile up; the call of an
// INVITE that does takes the id its trace carries.
func TestFreshIDsBounded(t *testing.T) {
	tr := newWireTrace(newRegistry(), zerolog.Nop())
	var last *gosip.Request
	for range 3 * freshIDs {
		last = gosip.NewRequest(gosip.INVITE, gosip.Uri{Host: "127.0.0.1"})
		tr.reserve(last, "id")
	}
	if len(tr.fresh) > freshIDs || len(tr.freshOrder) > freshIDs {
		t.Fatalf("%d ids, %d in order: want at most %d", len(tr.fresh), len(tr.freshOrder), freshIDs)
	}
	if id := tr.takeID(last); id != "id" {
		t.Errorf("takeID = %q, want the reserved id", id)
	}
	if id := tr.takeID(last); id == "id" || id == "" {
		t.Errorf("second takeID = %q, want a new id", id)
	}
	req := gosip.NewRequest(gosip.INVITE, gosip.Uri{Host: "127.0.0.1"})
	tr.reserve(req, "x")
	tr.forget(req)
	if _, ok := tr.fresh[req]; ok {
		t.Error("forget kept the id")
	}
}

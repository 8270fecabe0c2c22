package mediation_test

import (
	"bytes"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/mediation/mediationtest"
)

// TestResponsesInWireOrder: an SBC that sends 183 with SDP and, at once, a
// 200 without SDP (or a 180 and at once the 200) must see every call
// answered: the caller gets the 200 with the early answer as its SDP, and
// every provisional before it. With sipgo's goroutine per message the 200
// was sometimes handled first (488 to the caller, BYE to the SBC) or the
// 180 lost; the per-call event loop takes them in wire order.
func TestResponsesInWireOrder(t *testing.T) {
	const calls, workers = 200, 8
	for _, tr := range transports {
		for _, early := range []int{183, 180} {
			t.Run(fmt.Sprintf("%s/%d", tr, early), func(t *testing.T) {
				ctx := testCtx(t, 120*time.Second)
				sbc := startPeer(t, "sbc")
				sbc.invites(func(pi *peerInvite) {
					var body []byte
					if early == 183 {
						body = fixtureBody(t, "sbc-answer-pcma.sdp")
					}
					// Back to back, from one goroutine: in this order on the wire.
					pi.respond(early, body)
					var final []byte
					if early == 180 {
						final = fixtureBody(t, "sbc-answer-pcma.sdp")
					}
					pi.respond(200, final)
				})
				srv := serveTo(t, sbc.addr(), tr, nil)
				caller := startPeer(t, "caller")
				var failed atomic.Int32
				var mu sync.Mutex
				var failures []string
				fail := func(f string, args ...any) {
					failed.Add(1)
					mu.Lock()
					if len(failures) < 5 {
						failures = append(failures, fmt.Sprintf(f, args...))
					}
					mu.Unlock()
				}
				var wg sync.WaitGroup
				for w := range workers {
					wg.Go(func() {
						for i := w; i < calls; i += workers {
							oc := caller.call(ctx, srv.EdgeAddr(), tr, fixtureBody(t, "sfb-bypass-offer.sdp"))
							res := oc.answer(ctx, nil)
							// The caller's own sipgo may hand the responses on out of
							// order too, so the order is read off its wire tap.
							codes := caller.responses(string(*oc.inv.CallID()), gosip.INVITE)
							switch {
							case res.StatusCode != 200:
								fail("call %d: %d %s", i, res.StatusCode, res.Reason)
								continue
							case !bytes.Contains(res.Body(), []byte("m=audio")):
								fail("call %d: 200 without SDP", i)
							case !before(codes, early, 200):
								fail("call %d: the caller read %v, want a %d before the 200", i, codes, early)
							}
							if err := oc.d.Ack(ctx); err != nil {
								fail("call %d: ACK: %v", i, err)
							}
							if err := oc.d.Bye(ctx); err != nil {
								fail("call %d: BYE: %v", i, err)
							}
						}
					})
				}
				wg.Wait()
				if n := failed.Load(); n > 0 {
					t.Fatalf("%d of %d calls failed, e.g. %v", n, calls, failures)
				}
				mediationtest.WaitMetric(t, srv, 0, "mediationserver_calls_current", "direction", "outbound")
				if n := sbc.count(gosip.BYE); n != calls {
					t.Errorf("SBC got %d BYEs, want %d (one per call, none for a refused answer)", n, calls)
				}
			})
		}
	}
}

// before reports whether a comes before the first b in codes.
func before(codes []int, a, b int) bool {
	for _, c := range codes {
		switch c {
		case a:
			return true
		case b:
			return false
		}
	}
	return false
}

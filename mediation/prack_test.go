package mediation_test

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
)

// TestPrackStrictSBC: an SBC that insists on 100rel sends its 183
// reliably (Require: 100rel, RSeq), retransmits it until PRACKed and sends
// its 200 only after the PRACK. The server PRACKs it once, with the right
// RAck, whether or not its trunk offers 100rel; the call is answered
// without waiting for any timer.
func TestPrackStrictSBC(t *testing.T) {
	for _, tr := range transports {
		for _, mode := range []string{"supported", "off"} {
			t.Run(tr+"/prack "+mode, func(t *testing.T) {
				ctx := testCtx(t, 20*time.Second)
				sbc := startPeer(t, "sbc")
				sbc.invites(func(pi *peerInvite) {
					pi.reliable(183, 4711, fixtureBody(t, "sbc-answer-pcma.sdp"))
					// A retransmission of the same reliable 183: not PRACKed again.
					pi.reliable(183, 4711, fixtureBody(t, "sbc-answer-pcma.sdp"))
					pi.p.wait(ctx, gosip.PRACK, 1)
					pi.respond(200, fixtureBody(t, "sbc-answer-pcma.sdp"))
					pi.waitAck(ctx)
				})
				srv := serveTo(t, sbc.addr(), tr, func(c *mediation.Config) { c.Gateways[0].Prack = mode })
				caller := startPeer(t, "caller")
				oc := caller.call(ctx, srv.EdgeAddr(), tr, fixtureBody(t, "sfb-bypass-offer.sdp"))
				if res := oc.answer(ctx, nil); res.StatusCode != 200 {
					t.Fatalf("caller got %d %s", res.StatusCode, res.Reason)
				}
				inv, prack := sbc.wait(ctx, gosip.INVITE, 1), sbc.wait(ctx, gosip.PRACK, 1)
				if rack := prack.GetHeader("RAck"); rack == nil || rack.Value() != fmt.Sprintf("4711 %d INVITE", inv.CSeq().SeqNo) {
					t.Errorf("PRACK RAck = %v, want 4711 %d INVITE", rack, inv.CSeq().SeqNo)
				}
				if got := supported(inv); (mode == "off") == strings.Contains(got, "100rel") {
					t.Errorf("INVITE to the SBC has Supported %q with prack %s", got, mode)
				}
				_ = oc.d.Ack(ctx)
				if err := oc.d.Bye(ctx); err != nil {
					t.Fatal(err)
				}
				sbc.wait(ctx, gosip.BYE, 1)
				if n := sbc.count(gosip.PRACK); n != 1 {
					t.Errorf("%d PRACKs, want 1", n)
				}
			})
		}
	}
}

func supported(msg interface{ GetHeaders(string) []gosip.Header }) string {
	var v []string
	for _, h := range msg.GetHeaders("Supported") {
		v = append(v, h.Value())
	}
	return strings.Join(v, ", ")
}

// TestPrackToCaller: a caller that supports 100rel gets our 18x reliably
// (Require: 100rel and an RSeq), retransmitted until it PRACKs; the PRACK
// gets 200 and the call goes on. A caller that never PRACKs gets a 5xx
// after 64*T1 and the SBC a CANCEL.
func TestPrackToCaller(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr+"/prack", func(t *testing.T) {
			ctx := testCtx(t, 20*time.Second)
			sbc := startPeer(t, "sbc")
			pracked := make(chan struct{}, 2)
			sbc.invites(func(pi *peerInvite) {
				// Back to back: the 183 must wait for the PRACK of the 180.
				pi.respond(180, nil)
				pi.respond(183, fixtureBody(t, "sbc-answer-pcma.sdp"))
				for range 2 {
					select {
					case <-pracked:
					case <-ctx.Done():
						return
					}
				}
				pi.respond(200, fixtureBody(t, "sbc-answer-pcma.sdp"))
				pi.waitAck(ctx)
			})
			srv := serveTo(t, sbc.addr(), tr, nil)
			caller := startPeer(t, "caller")
			oc := caller.call(ctx, srv.EdgeAddr(), tr, fixtureBody(t, "sfb-bypass-offer.sdp"), gosip.NewHeader("Supported", "100rel"))
			var codes []int
			res := oc.answer(ctx, func(r *gosip.Response) {
				if r.StatusCode == 100 {
					return
				}
				if req := r.GetHeader("Require"); req == nil || !strings.Contains(req.Value(), "100rel") || r.GetHeader("RSeq") == nil {
					t.Errorf("%d to a 100rel caller is not reliable:\n%s", r.StatusCode, r)
					return
				}
				if len(codes) > 0 && codes[len(codes)-1] == r.StatusCode {
					return // a retransmission
				}
				codes = append(codes, r.StatusCode)
				// A PRACK answered 200 moves the server to the next one.
				if pres := doIn(ctx, t, oc, prackFor(oc, r)); pres.StatusCode != 200 {
					t.Errorf("PRACK got %d", pres.StatusCode)
				}
				pracked <- struct{}{}
			})
			if res.StatusCode != 200 || len(res.Body()) == 0 {
				t.Fatalf("caller got %d, %d bytes of SDP", res.StatusCode, len(res.Body()))
			}
			if len(codes) != 2 || codes[0] != 180 || codes[1] != 183 {
				t.Errorf("reliable provisionals %v, want 180 then 183", codes)
			}
			_ = oc.d.Ack(ctx)
			_ = oc.d.Bye(ctx)
			sbc.wait(ctx, gosip.BYE, 1)
		})
		t.Run(tr+"/no prack", func(t *testing.T) {
			ctx := testCtx(t, 20*time.Second)
			sbc := startPeer(t, "sbc")
			sbc.invites(func(pi *peerInvite) {
				pi.respond(180, nil)
				pi.p.wait(ctx, gosip.CANCEL, 1)
				pi.respond(487, nil)
			})
			srv := serveTo(t, sbc.addr(), tr, nil)
			caller := startPeer(t, "caller")
			oc := caller.call(ctx, srv.EdgeAddr(), tr, fixtureBody(t, "sfb-bypass-offer.sdp"), gosip.NewHeader("Supported", "100rel"))
			start := time.Now()
			res := oc.answer(ctx, nil)
			if res.StatusCode < 500 || res.StatusCode > 599 {
				t.Fatalf("unPRACKed caller got %d, want a 5xx", res.StatusCode)
			}
			if d := time.Since(start); d < 64*20*time.Millisecond {
				t.Errorf("gave up after %v, before 64*T1", d)
			}
			codes := caller.responses(string(*oc.inv.CallID()), gosip.INVITE)
			if tr == "udp" && count(codes, 180) < 3 {
				t.Errorf("the reliable 180 was not retransmitted over UDP: %v", codes)
			}
			sbc.wait(ctx, gosip.CANCEL, 1)
			mediationtest.WaitMetric(t, srv, 0, "mediationserver_calls_current", "direction", "outbound")
		})
	}
}

func count(codes []int, c int) int {
	n := 0
	for _, x := range codes {
		if x == c {
			n++
		}
	}
	return n
}

// prackFor builds the caller's PRACK of a reliable provisional; the
// caller's dialog (sipgo's, early at this point) adds tags, Call-ID and
// CSeq when it is sent with doIn.
func prackFor(oc *outCall, r *gosip.Response) *gosip.Request {
	req := gosip.NewRequest(gosip.PRACK, r.Contact().Address)
	req.AppendHeader(gosip.NewHeader("RAck", fmt.Sprintf("%s %d INVITE", r.GetHeader("RSeq").Value(), oc.inv.CSeq().SeqNo)))
	return req
}

// doIn sends a request in the caller's dialog and returns its final
// response.
func doIn(ctx context.Context, t *testing.T, oc *outCall, req *gosip.Request) *gosip.Response {
	t.Helper()
	res, err := oc.d.Do(ctx, req)
	if err != nil {
		t.Fatalf("%s: %v", req.Method, err)
	}
	return res
}

// TestRequireAndSupported: an INVITE whose Require lists an extension we
// do not support gets 420 with Unsupported (RFC 3261 §8.2.2.3); a side
// set to prack: required refuses a caller without 100rel with 421; timer
// and (with prack on) 100rel are accepted.
func TestRequireAndSupported(t *testing.T) {
	tests := []struct {
		name        string
		prack       string
		hdrs        []gosip.Header
		code        int
		unsupported string
	}{
		{"unknown extension", "supported", []gosip.Header{gosip.NewHeader("Require", "foo, timer")}, 420, "foo"},
		{"100rel with prack off", "off", []gosip.Header{gosip.NewHeader("Require", "100rel")}, 420, "100rel"},
		{"timer", "supported", []gosip.Header{gosip.NewHeader("Require", "timer"), gosip.NewHeader("Session-Expires", "1800")}, 200, ""},
		{"100rel required of a caller without it", "required", nil, 421, ""},
	}
	for _, tr := range transports {
		for _, tt := range tests {
			t.Run(tr+"/"+tt.name, func(t *testing.T) {
				ctx := testCtx(t, 20*time.Second)
				sbc := startPeer(t, "sbc")
				srv := serveTo(t, sbc.addr(), tr, func(c *mediation.Config) { c.Edge.Prack = tt.prack })
				caller := startPeer(t, "caller")
				oc := caller.call(ctx, srv.EdgeAddr(), tr, fixtureBody(t, "sfb-bypass-offer.sdp"), tt.hdrs...)
				res := oc.answer(ctx, func(r *gosip.Response) {
					if r.GetHeader("RSeq") != nil {
						_ = doIn(ctx, t, oc, prackFor(oc, r))
					}
				})
				if res.StatusCode != tt.code {
					t.Fatalf("got %d %s, want %d", res.StatusCode, res.Reason, tt.code)
				}
				if tt.unsupported != "" {
					if u := res.GetHeader("Unsupported"); u == nil || u.Value() != tt.unsupported {
						t.Errorf("Unsupported = %v, want %q", u, tt.unsupported)
					}
				}
				if tt.code == 421 {
					if r := res.GetHeader("Require"); r == nil || r.Value() != "100rel" {
						t.Errorf("421 without Require: 100rel:\n%s", res)
					}
				}
				if tt.code == 200 {
					_ = oc.d.Ack(ctx)
					_ = oc.d.Bye(ctx)
				} else if n := sbc.count(gosip.INVITE); n != 0 {
					t.Errorf("refused call reached the SBC (%d INVITEs)", n)
				}
				mediationtest.WaitMetric(t, srv, 0, "mediationserver_calls_current", "direction", "outbound")
			})
		}
	}
}

// TestPrackChecks: a caller's PRACK that carries an SDP offer still
// acknowledges its 183 (no more retransmissions, the call goes on) but the
// offer is refused with 488 and a Warning; a second, new PRACK (another
// CSeq) of the acknowledged 183 matches nothing: 481 (RFC 3262 §3).
func TestPrackChecks(t *testing.T) {
	ctx := testCtx(t, 20*time.Second)
	done := make(chan struct{})
	sbc := earlyThenAnswer(ctx, t, done)
	srv := serveTo(t, sbc.addr(), "udp", nil)
	caller := startPeer(t, "caller")
	oc := caller.call(ctx, srv.EdgeAddr(), "udp", fixtureBody(t, "sfb-bypass-offer.sdp"), gosip.NewHeader("Supported", "100rel"))
	pracked := false
	res := oc.answer(ctx, func(r *gosip.Response) {
		if r.StatusCode != 183 || pracked {
			return // the 100, or a retransmission
		}
		pracked = true
		p := prackFor(oc, r)
		p.AppendHeader(gosip.NewHeader("Content-Type", "application/sdp"))
		p.SetBody(fixtureBody(t, "sfb-bypass-offer.sdp"))
		if pres := doIn(ctx, t, oc, p); pres.StatusCode != 488 || pres.GetHeader("Warning") == nil {
			t.Errorf("PRACK with an offer got %d (Warning %v), want 488 with a Warning", pres.StatusCode, pres.GetHeader("Warning"))
		}
		if pres := doIn(ctx, t, oc, prackFor(oc, r)); pres.StatusCode != 481 {
			t.Errorf("a second PRACK of the acknowledged 183 got %d, want 481", pres.StatusCode)
		}
		close(done)
	})
	if res.StatusCode != 200 {
		t.Fatalf("caller got %d, want 200", res.StatusCode)
	}
	if codes := caller.responses(string(*oc.inv.CallID()), gosip.INVITE); count(codes, 183) != 1 {
		t.Errorf("183 sent %d times (%v): the PRACK with an offer did not acknowledge it", count(codes, 183), codes)
	}
	_ = oc.d.Ack(ctx)
	_ = oc.d.Bye(ctx)
	sbc.wait(ctx, gosip.BYE, 1)
}

// sbcRequest is a request the raw SBC read and where it came from.
type sbcRequest struct {
	req  *gosip.Request
	from netip.AddrPort
}

// collect reads until it has a request of each of the methods, in any
// order; retransmissions and other requests are passed over.
func (s *rawSBC) collect(methods ...gosip.RequestMethod) map[gosip.RequestMethod]sbcRequest {
	s.t.Helper()
	got := map[gosip.RequestMethod]sbcRequest{}
	for len(got) < len(methods) {
		r, from := s.read(gosip.INVITE)
		if _, dup := got[r.Method]; !dup && slices.Contains(methods, r.Method) {
			got[r.Method] = sbcRequest{r, from}
		}
	}
	return got
}

// reliable writes a reliable provisional (RFC 3262) with rseq to req.
func (s *rawSBC) reliable(req *gosip.Request, to netip.AddrPort, code int, tag string, rseq uint32, body []byte) {
	s.t.Helper()
	res := gosip.NewResponseFromRequest(req, code, "Reason", body)
	res.To().Params.Add("tag", tag)
	res.AppendHeader(&gosip.ContactHeader{Address: gosip.Uri{Scheme: "sip", Host: "127.0.0.1", Port: int(s.addr().Port())}})
	if body != nil {
		res.AppendHeader(gosip.NewHeader("Content-Type", "application/sdp"))
	}
	res.AppendHeader(gosip.NewHeader("Require", "100rel"))
	res.AppendHeader(gosip.NewHeader("RSeq", fmt.Sprint(rseq)))
	if _, err := s.conn.WriteToUDPAddrPort([]byte(res.String()), to); err != nil {
		s.t.Fatal(err)
	}
}

// checkPrack checks that prack acknowledges rseq of inv in the early
// dialog of tag, and answers it 200.
func (s *rawSBC) checkPrack(p sbcRequest, inv *gosip.Request, tag string, rseq uint32) {
	s.t.Helper()
	if rack := p.req.GetHeader("RAck"); rack == nil || rack.Value() != fmt.Sprintf("%d %d INVITE", rseq, inv.CSeq().SeqNo) {
		s.t.Errorf("PRACK RAck %v, want %d %d INVITE", rack, rseq, inv.CSeq().SeqNo)
	}
	if to, _ := p.req.To().Params.Get("tag"); to != tag || string(*p.req.CallID()) != string(*inv.CallID()) {
		s.t.Errorf("PRACK not in the early dialog: To %s, Call-ID %s", p.req.To().Value(), p.req.CallID().Value())
	}
	s.respond(p.req, p.from, 200, tag, nil)
}

// TestPrackAbandonedInvite: RFC 3262 §4, the UAC PRACKs every reliable
// provisional, also of an INVITE it has CANCELled: a reliable 18x that
// crosses our CANCEL is PRACKed in its early dialog (CSeq after the first
// PRACK's), while the caller's call has ended at once. (One that comes
// after the call ended without any provisional: TestCancelBeforeProvisional.)
func TestPrackAbandonedInvite(t *testing.T) {
	ctx := testCtx(t, 20*time.Second)
	rc := startRawCall(ctx, t)
	sbc, inv, from := rc.sbc, rc.inv, rc.from
	sbc.reliable(inv, from, 183, "ring", 1, fixtureBody(t, "sbc-answer-pcma.sdp"))
	first := sbc.collect(gosip.PRACK)[gosip.PRACK]
	sbc.checkPrack(first, inv, "ring", 1)
	ringing := make(chan struct{})
	go func() {
		<-ringing
		if res, err := rc.caller.stack.Client("udp").Do(ctx, rc.oc.cancel()); err != nil || res.StatusCode != 200 {
			t.Errorf("CANCEL: %v %v", res, err)
		}
	}()
	res := rc.oc.answer(ctx, func(r *gosip.Response) {
		if r.StatusCode == 183 {
			close(ringing)
		}
	})
	if res.StatusCode != 487 {
		t.Fatalf("caller got %d, want 487", res.StatusCode)
	}
	cancel := sbc.collect(gosip.CANCEL)[gosip.CANCEL]
	// Its 180 was on the wire when our CANCEL arrived.
	sbc.reliable(inv, from, 180, "ring", 2, nil)
	sbc.respond(cancel.req, cancel.from, 200, "ring", nil)
	second := sbc.collect(gosip.PRACK)[gosip.PRACK]
	sbc.checkPrack(second, inv, "ring", 2)
	if second.req.CSeq().SeqNo <= first.req.CSeq().SeqNo {
		t.Errorf("second PRACK CSeq %d, not after the first's %d", second.req.CSeq().SeqNo, first.req.CSeq().SeqNo)
	}
	sbc.respond(inv, from, 487, "ring", nil)
	sbc.collect(gosip.ACK)
	mediationtest.WaitMetric(t, rc.srv, 0, "mediationserver_calls_current", "direction", "outbound")
}

// TestPrackForkedReliableProvisionals: the SBC side forks, and each fork
// sends a reliable 183 numbered from a start of its own (RFC 3262 §3): each
// is PRACKed in its own early dialog. One RSeq sequence for the whole
// INVITE took the second fork's 183 for an out-of-order one: never
// PRACKed, that fork could never answer.
func TestPrackForkedReliableProvisionals(t *testing.T) {
	ctx := testCtx(t, 20*time.Second)
	sbc := startPeer(t, "sbc")
	sbc.invites(func(pi *peerInvite) {
		pi.reliable(183, 500, fixtureBody(t, "sbc-answer-pcma.sdp"))
		fork := pi.response(183, fixtureBody(t, "sbc-answer-pcma.sdp"), gosip.NewHeader("Require", "100rel"), gosip.NewHeader("RSeq", "9000"))
		fork.To().Params.Add("tag", "forkB") // replaces pi's tag: another UAS
		_ = pi.tx.Respond(fork)
		pi.p.wait(ctx, gosip.PRACK, 2)
		pi.respond(200, fixtureBody(t, "sbc-answer-pcma.sdp"))
		pi.waitAck(ctx)
	})
	srv := serveTo(t, sbc.addr(), "udp", nil)
	caller := startPeer(t, "caller")
	oc := caller.call(ctx, srv.EdgeAddr(), "udp", fixtureBody(t, "sfb-bypass-offer.sdp"))
	if res := oc.answer(ctx, nil); res.StatusCode != 200 {
		t.Fatalf("call got %d", res.StatusCode)
	}
	tags := map[string]bool{}
	for i := 1; i <= 2; i++ {
		pr := sbc.wait(ctx, gosip.PRACK, i)
		tag, _ := pr.To().Params.Get("tag")
		tags[tag] = true
	}
	if !tags["forkB"] || len(tags) != 2 {
		t.Errorf("PRACKs in early dialogs %v, want one per fork", tags)
	}
	_ = oc.d.Ack(ctx)
	_ = oc.d.Bye(ctx)
	sbc.wait(ctx, gosip.BYE, 1)
}

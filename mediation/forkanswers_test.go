package mediation_test

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
)

// forkCall is a call through a lab server, either way, to a callee that
// forks, on a bare UDP socket (raw) so that the test writes each of its
// responses, retransmissions included, and reads every request the
// server sends it: the edge's client inbound (the SBC peer calls), the
// SBC outbound (a caller peer calls).
type forkCall struct {
	t    *testing.T
	dir  string
	raw  *rawSBC
	srv  *mediation.Server
	oc   *outCall
	inv  *gosip.Request
	from netip.AddrPort
	// answer is an SDP answer of the callee's side to the call's offer.
	answer []byte
}

// startForkCall places a call in direction dir ("inbound" or "outbound")
// and waits for the server's INVITE at the raw callee.
func startForkCall(ctx context.Context, t *testing.T, dir string) *forkCall {
	t.Helper()
	fc := &forkCall{t: t, dir: dir, raw: startRawSBC(t)}
	if dir == "outbound" {
		fc.srv = serveTo(t, fc.raw.addr(), "udp", nil)
		fc.oc = startPeer(t, "caller").call(ctx, fc.srv.EdgeAddr(), "udp", fixtureBody(t, "sfb-bypass-offer.sdp"))
		fc.answer = fixtureBody(t, "sbc-answer-pcma.sdp")
	} else {
		sbc := startPeer(t, "sbc")
		fc.srv = serveTo(t, sbc.addr(), "udp", func(c *mediation.Config) { c.Edge.Peer = fc.raw.addr().String() })
		fc.oc = sbc.call(ctx, fc.srv.GatewayAddr(), "udp", fixtureBody(t, "sbc-offer-pcma-pcmu.sdp"))
		fc.answer = fixtureBody(t, "sfb-answer-no-bypassid.sdp")
	}
	fc.inv, fc.from = fc.raw.read("")
	return fc
}

// response is the wire form of the callee's response code to the INVITE
// from its fork tag, with its Contact, and body as SDP when not nil.
func (fc *forkCall) response(code int, tag string, body []byte) []byte {
	res := gosip.NewResponseFromRequest(fc.inv, code, "Fork", body)
	res.To().Params.Add("tag", tag)
	res.AppendHeader(&gosip.ContactHeader{Address: gosip.Uri{Scheme: "sip", User: tag, Host: "127.0.0.1", Port: int(fc.raw.addr().Port())}})
	if body != nil {
		res.AppendHeader(gosip.NewHeader("Content-Type", "application/sdp"))
	}
	return []byte(res.String())
}

// write sends the server what response made.
func (fc *forkCall) write(wire []byte) {
	fc.t.Helper()
	if _, err := fc.raw.conn.WriteToUDPAddrPort(wire, fc.from); err != nil {
		fc.t.Fatal(err)
	}
}

// next is the next request the callee gets (INVITE retransmissions
// skipped), a BYE answered 200.
func (fc *forkCall) next() *gosip.Request {
	fc.t.Helper()
	r, src := fc.raw.read(gosip.INVITE)
	if r.Method == gosip.BYE {
		fc.raw.respond(r, src, 200, "", nil)
	}
	return r
}

// reqToTag is the To-tag of req.
func reqToTag(req *gosip.Request) string {
	tag, _ := req.To().Params.Get("tag")
	return tag
}

// TestSecondForkRetransmittedAnswerReAcked: fork A answers the call, fork
// B answers too and is ACKed and hung up with BYE (RFC 3261 §13.2.2.4);
// B's UAS, not having seen our ACK (lost, or crossing), sends its 200
// again: each copy is ACKed again, and no other BYE follows (B's dialog
// is over, and a BYE there reused the first one's CSeq: every copy used
// to get one). The caller's BYE then goes to fork A, the next request the
// callee sees. Both directions.
func TestSecondForkRetransmittedAnswerReAcked(t *testing.T) {
	for _, dir := range []string{"outbound", "inbound"} {
		t.Run(dir, func(t *testing.T) {
			ctx := testCtx(t, 30*time.Second)
			fc := startForkCall(ctx, t, dir)
			fc.write(fc.response(183, "forkA", fc.answer))
			fc.write(fc.response(183, "forkB", fc.answer))
			fc.write(fc.response(200, "forkA", fc.answer))
			okB := fc.response(200, "forkB", fc.answer)
			fc.write(okB)
			var got []string
			for {
				r := fc.next()
				got = append(got, string(r.Method)+" "+reqToTag(r))
				if r.Method == gosip.BYE {
					break
				}
			}
			if len(got) != 3 || got[0] != "ACK forkA" || got[1] != "ACK forkB" || got[2] != "BYE forkB" {
				t.Fatalf("callee got %v, want ACK forkA, ACK forkB, BYE forkB", got)
			}
			if res := fc.oc.answer(ctx, nil); res.StatusCode != 200 {
				t.Fatalf("caller got %d", res.StatusCode)
			}
			if err := fc.oc.d.Ack(ctx); err != nil {
				t.Fatal(err)
			}
			for i := range 3 {
				fc.write(okB)
				if r := fc.next(); r.Method != gosip.ACK || reqToTag(r) != "forkB" {
					t.Fatalf("copy %d of fork B's 200: callee got %s to %q, want only the ACK again", i+2, r.Method, reqToTag(r))
				}
			}
			if err := fc.oc.d.Bye(ctx); err != nil {
				t.Fatal(err)
			}
			if r := fc.next(); r.Method != gosip.BYE || reqToTag(r) != "forkA" {
				t.Fatalf("after the caller's BYE the callee got %s to %q, want BYE to forkA", r.Method, reqToTag(r))
			}
			waitCalls(t, fc.srv, 0)
		})
	}
}

// TestForkWithoutAnswerAnswers: forks A and B answer the offer in their
// 183s, then fork C, never heard before (or heard with a 180 without
// SDP), answers 200 without SDP. Fork C gave no answer to our offer
// (RFC 3261 §13.3.1.1): A's and B's are theirs, other UASs (§13.2.2.4).
// It is taken as a non-forked callee's 2xx without any answer: fork C is
// ACKed and hung up, and the caller gets 488 with a Warning, counted as
// bad_answer_sdp. It used to be answered with B's SDP (the fork heard
// last), the media sent to B. Both directions.
func TestForkWithoutAnswerAnswers(t *testing.T) {
	for _, dir := range []string{"outbound", "inbound"} {
		for _, ringing := range []bool{false, true} {
			name := dir
			if ringing {
				name += " after its 180"
			}
			t.Run(name, func(t *testing.T) {
				ctx := testCtx(t, 30*time.Second)
				fc := startForkCall(ctx, t, dir)
				fc.write(fc.response(183, "forkA", fc.answer))
				fc.write(fc.response(183, "forkB", fc.answer))
				if ringing {
					fc.write(fc.response(180, "forkC", nil))
				}
				fc.write(fc.response(200, "forkC", nil))
				var got []string
				for {
					r := fc.next()
					got = append(got, string(r.Method)+" "+reqToTag(r))
					if r.Method == gosip.BYE {
						break
					}
				}
				if len(got) != 2 || got[0] != "ACK forkC" || got[1] != "BYE forkC" {
					t.Fatalf("callee got %v, want ACK forkC, BYE forkC", got)
				}
				res := fc.oc.answer(ctx, nil)
				if res.StatusCode != 488 {
					t.Fatalf("caller got %d, want 488", res.StatusCode)
				}
				if w := header(res, "Warning"); w == "" {
					t.Error("the 488 has no Warning saying why")
				}
				mediationtest.WaitMetric(t, fc.srv, 1, "mediationserver_failed_calls_total", "direction", dir, "reason", "bad_answer_sdp")
				waitCalls(t, fc.srv, 0)
			})
		}
	}
}

// TestForkAnswersWithOwnEarlyAnswer: the fork that answers 200 without
// SDP after an 18x with SDP of its own is the call, with its own early
// answer, though another fork's 183 came last; the other fork, silent
// after its 183, is not hung up (its branch is the forking proxy's to
// cancel). Both directions, as a guard of what TestForkWithoutAnswer
// Answers refuses.
func TestForkAnswersWithOwnEarlyAnswer(t *testing.T) {
	for _, dir := range []string{"outbound", "inbound"} {
		t.Run(dir, func(t *testing.T) {
			ctx := testCtx(t, 30*time.Second)
			fc := startForkCall(ctx, t, dir)
			fc.write(fc.response(183, "forkA", fc.answer))
			fc.write(fc.response(183, "forkB", fc.answer))
			fc.write(fc.response(200, "forkA", nil))
			if r := fc.next(); r.Method != gosip.ACK || reqToTag(r) != "forkA" {
				t.Fatalf("callee got %s to %q, want the ACK of fork A", r.Method, reqToTag(r))
			}
			if res := fc.oc.answer(ctx, nil); res.StatusCode != 200 {
				t.Fatalf("caller got %d, want 200", res.StatusCode)
			}
			if err := fc.oc.d.Ack(ctx); err != nil {
				t.Fatal(err)
			}
			if err := fc.oc.d.Bye(ctx); err != nil {
				t.Fatal(err)
			}
			if r := fc.next(); r.Method != gosip.BYE || reqToTag(r) != "forkA" {
				t.Fatalf("callee got %s to %q, want BYE to fork A", r.Method, reqToTag(r))
			}
			waitCalls(t, fc.srv, 0)
		})
	}
}

// TestExcessForkAnswersAckedOnly: once fork A has answered, the callee
// sends 2xx under 50 To-tags never heard before (a callee, or whoever
// can put responses on its path, making up forks). Each is ACKed; the
// first 39 (with fork A, the 20 forks a call remembers and 20 more) are
// hung up with BYE, the rest ACKed only and counted: each used to cost a
// BYE transaction and a goroutine waiting for it, without bound
// (r26-hostile H1). The call goes on.
func TestExcessForkAnswersAckedOnly(t *testing.T) {
	const forks = 50
	ctx := testCtx(t, 30*time.Second)
	fc := startForkCall(ctx, t, "outbound")
	fc.write(fc.response(200, "forkA", fc.answer))
	if r := fc.next(); r.Method != gosip.ACK || reqToTag(r) != "forkA" {
		t.Fatalf("callee got %s to %q, want the ACK of fork A", r.Method, reqToTag(r))
	}
	for i := range forks {
		fc.write(fc.response(200, fmt.Sprintf("made-up-%d", i), fc.answer))
	}
	acks, byes := map[string]bool{}, map[string]bool{}
	for len(acks) < forks || len(byes) < 2*20-1 {
		r := fc.next()
		switch r.Method {
		case gosip.ACK:
			acks[reqToTag(r)] = true
		case gosip.BYE:
			byes[reqToTag(r)] = true
		}
	}
	mediationtest.WaitMetric(t, fc.srv, forks-(2*20-1), "mediationserver_sip_excess_fork_answers_total", "side", "gateway")
	if len(byes) != 2*20-1 {
		t.Errorf("%d made-up forks got BYE, want 39", len(byes))
	}
	if res := fc.oc.answer(ctx, nil); res.StatusCode != 200 {
		t.Fatalf("caller got %d", res.StatusCode)
	}
	if err := fc.oc.d.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	if err := fc.oc.d.Bye(ctx); err != nil {
		t.Fatal(err)
	}
	for {
		r := fc.next()
		if r.Method == gosip.BYE && reqToTag(r) == "forkA" {
			break
		}
		if r.Method == gosip.BYE {
			byes[reqToTag(r)] = true
		}
	}
	if len(byes) != 2*20-1 {
		t.Errorf("%d made-up forks got BYE, want 39", len(byes))
	}
	waitCalls(t, fc.srv, 0)
}

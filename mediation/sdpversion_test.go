package mediation_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/mediation"
)

// The o= version of the SDP we send each peer (RFC 3264 §8): every new SDP
// a version exactly one above the previous SDP sent that peer, an
// unchanged one the same version. Our answer to an offer that came in an
// answer (an ACK, the 2xx of our refresh) is not sent, so it takes no
// version; an offer the peer refused was sent, so its version is never
// used again (r25-timers F1, F2).

// withVersionDir is a fixture SDP with its o= version and its direction
// replaced: a peer's new SDP.
func withVersionDir(t *testing.T, body []byte, version int, dir string) []byte {
	t.Helper()
	lines := strings.Split(string(body), "\n")
	for i, l := range lines {
		l, cr := strings.CutSuffix(l, "\r")
		switch {
		case strings.HasPrefix(l, "o="):
			f := strings.Fields(l)
			f[2] = fmt.Sprint(version)
			l = strings.Join(f, " ")
		case slices.Contains([]string{"a=sendrecv", "a=sendonly", "a=recvonly", "a=inactive"}, l):
			l = "a=" + dir
		}
		if cr {
			l += "\r"
		}
		lines[i] = l
	}
	return []byte(strings.Join(lines, "\n"))
}

// answerDir is the direction that answers an offer's (RFC 3264 §6.1).
func answerDir(offer []byte) string {
	switch {
	case bytes.Contains(offer, []byte("a=sendonly")):
		return "recvonly"
	case bytes.Contains(offer, []byte("a=recvonly")):
		return "sendonly"
	case bytes.Contains(offer, []byte("a=inactive")):
		return "inactive"
	}
	return "sendrecv"
}

// checkVersions checks the SDPs we sent one peer, in the order sent,
// against RFC 3264 §8 and against want, their o= versions.
func checkVersions(t *testing.T, who string, bodies [][]byte, want ...uint64) {
	t.Helper()
	var got []uint64
	for i, b := range bodies {
		got = append(got, sdpVersion(t, b))
		if i == 0 {
			continue
		}
		same := withoutOrigin(b) == withoutOrigin(bodies[i-1])
		switch v, prev := got[i], got[i-1]; {
		case same && v != prev:
			t.Errorf("%s: SDP #%d repeats #%d with version %d, want %d (unchanged)", who, i+1, i, v, prev)
		case !same && v != prev+1:
			t.Errorf("%s: SDP #%d changed the session with version %d after %d, want %d:\n%s\nafter\n%s", who, i+1, v, prev, prev+1, b, bodies[i-1])
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s got o= versions %v, want %v", who, got, want)
	}
}

// invitesSent is the SDP of every INVITE p received, in CSeq order (the
// order we sent them; the peer records them as its handlers run).
func invitesSent(p *peer) [][]byte {
	p.mu.Lock()
	reqs := slices.Clone(p.reqs)
	p.mu.Unlock()
	reqs = slices.DeleteFunc(reqs, func(r *gosip.Request) bool { return r.Method != gosip.INVITE })
	slices.SortFunc(reqs, func(a, b *gosip.Request) int { return int(a.CSeq().SeqNo) - int(b.CSeq().SeqNo) })
	var out [][]byte
	for _, r := range reqs {
		out = append(out, r.Body())
	}
	return out
}

// sbcAnswering makes sbc answer every re-INVITE with 200 and its fixture
// answer in the direction that answers the offer, refuse (when not 0)
// the first with that code.
func sbcAnswering(t *testing.T, sbc *peer, refuse int) {
	var n atomic.Int32
	sbc.on(gosip.INVITE, func(req *gosip.Request, tx gosip.ServerTransaction) {
		i := int(n.Add(1))
		if i == 1 && refuse != 0 {
			sbc.reply(req, tx, refuse, nil)
			return
		}
		sbc.reply(req, tx, 200, withVersionDir(t, fixtureBody(t, "sbc-answer-pcma.sdp"), 100+i, answerDir(req.Body())))
	})
}

// rawCallerDialog sends the caller's requests in oc's dialog by hand
// (inCallerDialog), CSeq numbers its own from the INVITE's + 10: an ACK
// with an answer in it.
type rawCallerDialog struct {
	t      *testing.T
	caller *peer
	oc     *outCall
	tag    string
	seq    uint32
}

func newRawCallerDialog(t *testing.T, caller *peer, oc *outCall) *rawCallerDialog {
	tag, _ := oc.inv.From().Params.Get("tag")
	return &rawCallerDialog{t: t, caller: caller, oc: oc, tag: tag, seq: 9}
}

// do sends a request with body (nil: none) and returns its final response.
func (r *rawCallerDialog) do(ctx context.Context, method gosip.RequestMethod, body []byte) *gosip.Response {
	r.t.Helper()
	r.seq++
	req := inCallerDialog(r.oc, method, r.seq, r.tag)
	if body != nil {
		req.AppendHeader(gosip.NewHeader("Content-Type", "application/sdp"))
		req.SetBody(body)
	}
	tx, err := r.caller.stack.Client("udp").TransactionRequest(ctx, req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer tx.Terminate()
	for {
		select {
		case res := <-tx.Responses():
			if res.StatusCode >= 200 {
				return res
			}
		case <-ctx.Done():
			r.t.Fatalf("no final response to %s", method)
		}
	}
}

// ack acknowledges ok, the 200 to the last re-INVITE, with body (an answer,
// nil: none), and returns once the server has taken it (an OPTIONS after
// it, handled in order).
func (r *rawCallerDialog) ack(ctx context.Context, ok *gosip.Response, body []byte) {
	r.t.Helper()
	ack := inCallerDialog(r.oc, gosip.ACK, r.seq, r.tag)
	ack.Recipient = ok.Contact().Address
	if body != nil {
		ack.AppendHeader(gosip.NewHeader("Content-Type", "application/sdp"))
		ack.SetBody(body)
	}
	if err := r.caller.stack.Client("udp").WriteRequest(ack); err != nil {
		r.t.Fatal(err)
	}
	if res := r.do(ctx, gosip.OPTIONS, nil); res.StatusCode != 200 {
		r.t.Fatalf("OPTIONS after the ACK got %d", res.StatusCode)
	}
}

// reinvite sends a re-INVITE with body (nil: none), ACKs its 200 with ack
// and returns the 200's SDP.
func (r *rawCallerDialog) reinvite(ctx context.Context, body, ack []byte) []byte {
	r.t.Helper()
	res := r.do(ctx, gosip.INVITE, body)
	if res.StatusCode != 200 || len(res.Body()) == 0 {
		r.t.Fatalf("re-INVITE got %d with %d bytes of SDP, want 200 with SDP", res.StatusCode, len(res.Body()))
	}
	r.ack(ctx, res, ack)
	return res.Body()
}

// TestAnswerInAckTakesNoVersion: the client's answer in the ACK of our
// 200 to its re-INVITE without SDP puts it on hold, and goes to the SBC as
// our re-INVITE; nothing goes back to the client. The client's versions
// from us go on from what it got: its next SDP from us that changes
// anything is version 2, and a re-INVITE without SDP gets the SDP it has
// (version 1) again. Our answer to its answer, never sent, used to take
// version 2 (the next SDP was 3) and be offered as the SDP the client had.
func TestAnswerInAckTakesNoVersion(t *testing.T) {
	for _, again := range []bool{false, true} {
		t.Run(fmt.Sprintf("sdp-less re-INVITE again %v", again), func(t *testing.T) {
			ctx := testCtx(t, 20*time.Second)
			caller, sbc, srv, oc, records := anchoredCall(ctx, t, func(int, *gosip.Request) (int, []byte) { return 0, nil })
			sbcAnswering(t, sbc, 0)
			offer := fixtureBody(t, "sbc-offer-pcma-pcmu.sdp")
			raw := newRawCallerDialog(t, caller, oc)
			sent := [][]byte{oc.final.Body()}
			hold := withVersionDir(t, offer, 1, "sendonly")
			sent = append(sent, raw.reinvite(ctx, nil, hold))
			sbc.wait(ctx, gosip.ACK, 2) // the hold, relayed and answered
			if again {
				// The same hold in the ACK: nothing changes, nothing relayed.
				sent = append(sent, raw.reinvite(ctx, nil, hold))
			}
			sent = append(sent, raw.reinvite(ctx, withVersionDir(t, offer, 2, "sendrecv"), nil))
			sent = append(sent, raw.reinvite(ctx, withVersionDir(t, offer, 3, "sendonly"), nil))
			sent = append(sent, raw.reinvite(ctx, withVersionDir(t, offer, 4, "sendrecv"), nil))
			if again {
				checkVersions(t, "client", sent, 1, 1, 1, 1, 2, 3)
			} else {
				checkVersions(t, "client", sent, 1, 1, 1, 2, 3)
			}
			checkVersions(t, "SBC", invitesSent(sbc), 1, 2, 3, 4, 5)
			if res := raw.do(ctx, gosip.BYE, nil); res.StatusCode != 200 {
				t.Fatalf("BYE got %d", res.StatusCode)
			}
			sbc.wait(ctx, gosip.BYE, 1)
			waitCalls(t, srv, 0)
			if recs := readRecords(t, records); len(recs) != 1 || recs[0].EndReason != "bye from edge" {
				t.Fatalf("records %+v, want one ended by the client's BYE", recs)
			}
		})
	}
}

// TestRefreshAnswerTakesNoVersion: the SBC answers our session refresh
// re-INVITE (our SDP unchanged, version 1) with a hold, which goes to the
// client; nothing goes back to the SBC. Our next refreshes offer the SBC
// the SDP it has, version 1 again, and the client's next offer reaches it
// as version 2. Our answer to the SBC's answer, never sent, used to take
// version 2: the refreshes offered it, and the next offer was 3.
func TestRefreshAnswerTakesNoVersion(t *testing.T) {
	ctx := testCtx(t, 20*time.Second)
	expires := gosip.NewHeader("Session-Expires", "2;refresher=uac")
	sbc := startPeer(t, "sbc")
	sbc.invites(func(pi *peerInvite) {
		pi.respond(200, fixtureBody(t, "sbc-answer-pcma.sdp"), expires, gosip.NewHeader("Require", "timer"))
	})
	held := withVersionDir(t, fixtureBody(t, "sbc-answer-pcma.sdp"), 2, "sendonly")
	sbc.on(gosip.INVITE, func(req *gosip.Request, tx gosip.ServerTransaction) { // our refreshes (no UPDATE allowed), the relayed offer
		sbc.reply(req, tx, 200, held, expires)
	})
	srv := serveTo(t, sbc.addr(), "udp", func(c *mediation.Config) {
		c.Gateways[0].SessionTimer = mediation.SessionTimerConfig{Enabled: true, Expires: 2 * time.Second, MinSE: time.Second}
	})
	caller := startPeer(t, "caller")
	caller.on(gosip.INVITE, func(req *gosip.Request, tx gosip.ServerTransaction) { // the SBC's hold, relayed
		caller.reply(req, tx, 200, withVersionDir(t, fixtureBody(t, "sbc-offer-pcma-pcmu.sdp"), 2, answerDir(req.Body())))
	})
	offer := fixtureBody(t, "sbc-offer-pcma-pcmu.sdp")
	oc := caller.call(ctx, srv.EdgeAddr(), "udp", offer) // no bypass ID: anchored
	if res := oc.answer(ctx, nil); res.StatusCode != 200 {
		t.Fatalf("got %d", res.StatusCode)
	}
	_ = oc.d.Ack(ctx)
	caller.wait(ctx, gosip.ACK, 1) // the hold in the refresh's 2xx, relayed and answered
	sbc.wait(ctx, gosip.INVITE, 3) // a refresh after it
	// The client's next offer; it may cross a refresh (491).
	reinvite := callerReinvites(t, oc)
	for res := reinvite(ctx, withVersionDir(t, offer, 3, "sendonly")); res.StatusCode != 200; res = reinvite(ctx, withVersionDir(t, offer, 3, "sendonly")) {
		if res.StatusCode != 491 || ctx.Err() != nil {
			t.Fatalf("the client's re-INVITE got %d", res.StatusCode)
		}
	}
	_ = oc.d.Bye(ctx)
	sbc.wait(ctx, gosip.BYE, 1)
	waitCalls(t, srv, 0)
	sent := invitesSent(sbc)
	var want []uint64
	for _, b := range sent {
		v := uint64(1)
		if withoutOrigin(b) != withoutOrigin(sent[0]) {
			v = 2 // the client's offer, and our refreshes after it
		}
		want = append(want, v)
	}
	if want[len(want)-1] != 2 {
		t.Errorf("the client's offer never reached the SBC as a new SDP (%d INVITEs)", len(sent))
	}
	checkVersions(t, "SBC", sent, want...)
}

// TestRefusedOfferVersionNotReused: the SBC refuses (488) the client's
// hold, relayed to it as our version 2. The session stays as it was, but
// version 2 was sent: the next SDP the SBC gets from us is version 3,
// whether it is the client's next offer or the session it has (our 200 to
// its re-INVITE without SDP: it differs from the last SDP sent, the
// refused one). Version 2 used to be reused for the next offer, and the
// session before offered again as version 1.
func TestRefusedOfferVersionNotReused(t *testing.T) {
	for _, sdpless := range []bool{false, true} {
		t.Run(fmt.Sprintf("sdp-less re-INVITE %v", sdpless), func(t *testing.T) {
			ctx := testCtx(t, 20*time.Second)
			sbc := startPeer(t, "sbc")
			var call atomic.Pointer[peerInvite]
			sbc.invites(func(pi *peerInvite) {
				call.Store(pi)
				pi.respond(200, fixtureBody(t, "sbc-answer-pcma.sdp"))
				pi.waitAck(ctx)
			})
			sbcAnswering(t, sbc, 488)
			records := t.TempDir() + "/calls.jsonl"
			srv := serveTo(t, sbc.addr(), "udp", func(c *mediation.Config) {
				c.Records.Path = records
				c.Media.IP = "127.0.0.1"
			})
			caller := startPeer(t, "caller")
			offer := fixtureBody(t, "sbc-offer-pcma-pcmu.sdp")
			oc := caller.call(ctx, srv.EdgeAddr(), "udp", offer) // no bypass ID: anchored
			if res := oc.answer(ctx, nil); res.StatusCode != 200 {
				t.Fatalf("call got %d", res.StatusCode)
			}
			if err := oc.d.Ack(ctx); err != nil {
				t.Fatal(err)
			}
			ackTaken(ctx, t, oc)
			sbc.wait(ctx, gosip.ACK, 1)
			reinvite := callerReinvites(t, oc)
			if res := reinvite(ctx, withVersionDir(t, offer, 2, "sendonly")); res.StatusCode != 488 {
				t.Fatalf("the refused hold got %d, want the SBC's 488", res.StatusCode)
			}
			sent := invitesSent(sbc)
			if sdpless {
				pi := call.Load()
				res := pi.do(ctx, pi.inDialog(gosip.INVITE, 2, nil))
				if res.StatusCode != 200 || withoutOrigin(res.Body()) != withoutOrigin(sent[0]) {
					t.Fatalf("re-INVITE without SDP got %d with\n%s\nwant 200 with the session before the refused hold:\n%s", res.StatusCode, res.Body(), sent[0])
				}
				sent = append(sent, res.Body())
				ack := pi.inDialog(gosip.ACK, 2, fixtureBody(t, "sbc-answer-pcma.sdp")) // its session unchanged
				ack.Recipient = res.Contact().Address
				if err := sbc.stack.Client("udp").WriteRequest(ack); err != nil {
					t.Fatal(err)
				}
				if r := pi.do(ctx, pi.inDialog(gosip.OPTIONS, 3, nil)); r.StatusCode != 200 {
					t.Fatalf("OPTIONS after the ACK got %d", r.StatusCode)
				}
				if res := reinvite(ctx, withVersionDir(t, offer, 3, "sendonly")); res.StatusCode != 200 {
					t.Fatalf("the hold again got %d", res.StatusCode)
				}
				sbc.wait(ctx, gosip.INVITE, 3)
				checkVersions(t, "SBC", append(sent, invitesSent(sbc)[2]), 1, 2, 3, 4)
			} else {
				if res := reinvite(ctx, withVersionDir(t, offer, 3, "inactive")); res.StatusCode != 200 {
					t.Fatalf("the next offer got %d", res.StatusCode)
				}
				checkVersions(t, "SBC", invitesSent(sbc), 1, 2, 3)
			}
			hangUpAndCheck(ctx, t, sbc, srv, oc, records)
		})
	}
}

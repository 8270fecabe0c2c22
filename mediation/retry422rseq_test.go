package mediation_test

import (
	"context"
	"strings"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/sip"
)

// rawResponseWith is the wire form of s's response code to req, with
// To-tag tag (when not ""), a Contact of s, body as SDP when not nil, and
// extra headers written "Name: value".
func rawResponseWith(s *rawSBC, req *gosip.Request, code int, tag string, body []byte, hdrs ...string) []byte {
	res := gosip.NewResponseFromRequest(req, code, "Raw", body)
	if tag != "" {
		res.To().Params.Add("tag", tag)
	}
	res.AppendHeader(&gosip.ContactHeader{Address: gosip.Uri{Scheme: "sip", User: tag, Host: s.addr().Addr().String(), Port: int(s.addr().Port())}})
	for _, h := range hdrs {
		name, val, _ := strings.Cut(h, ": ")
		res.AppendHeader(gosip.NewHeader(name, val))
	}
	if body != nil {
		res.AppendHeader(gosip.NewHeader("Content-Type", "application/sdp"))
	}
	return []byte(res.String())
}

// rawNextPrack is the next PRACK s reads within d (answered 200), nil if
// none comes; other requests (INVITE copies) are skipped.
func rawNextPrack(ctx context.Context, s *rawSBC, d time.Duration) *gosip.Request {
	buf := make([]byte, 65535)
	_ = s.conn.SetReadDeadline(time.Now().Add(d))
	for ctx.Err() == nil {
		n, src, err := s.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return nil
		}
		m, err := gosip.ParseMessage(append([]byte(nil), buf[:n]...))
		if err != nil {
			continue
		}
		if r, ok := m.(*gosip.Request); ok && r.Method == gosip.PRACK {
			s.respond(r, src, 200, "", nil)
			return r
		}
	}
	return nil
}

// TestOutbound422RetryNewRSeq: outbound, the SBC sends a reliable 183
// with SDP (To-tag T, RSeq 1), which we PRACK, then relays the carrier's
// 422 with a larger Min-SE, and we send the INVITE again (RFC 4028 §7.4).
// The retry is a new request: RFC 3262 §3 numbers RSeq per request, §4
// keeps the UAC's RSeq state only until the request's final response (the
// 422), and that response ended the first INVITE's early dialogs (RFC
// 3261 §12.3). An SBC that derives its To-tag from the Call-ID and
// From-tag (or a sipp scenario with a fixed tag and "RSeq: 1") answers the
// retry with a reliable 183 under the same tag T, RSeq 1 again: it is
// PRACKed (RAck naming the retry's CSeq) in an early dialog counted from
// the retry, and the call is answered. It used to be taken for a
// retransmission of the first 183, never PRACKed, and the SBC gave up on
// the call after 64*T1 (r27-early F2). The retry's CSeq is also above
// every request of ours in the first INVITE's early dialogs (the PRACK).
func TestOutbound422RetryNewRSeq(t *testing.T) {
	ctx := testCtx(t, 20*time.Second)
	sbc := startRawSBC(t)
	srv := serveTo(t, sbc.addr(), "udp", func(c *mediation.Config) {
		c.Gateways[0].SessionTimer = mediation.SessionTimerConfig{Enabled: true, Expires: 90 * time.Second}
	})
	oc := startPeer(t, "caller").call(ctx, srv.EdgeAddr(), "udp", fixtureBody(t, "sfb-bypass-offer.sdp"))
	inv, from := sbc.read("")
	ans := fixtureBody(t, "sbc-answer-pcma.sdp")
	send := func(wire []byte) {
		t.Helper()
		if _, err := sbc.conn.WriteToUDPAddrPort(wire, from); err != nil {
			t.Fatal(err)
		}
	}
	send(rawResponseWith(sbc, inv, 183, "T", ans, "Require: 100rel", "RSeq: 1"))
	prack1 := rawNextPrack(ctx, sbc, 5*time.Second)
	if prack1 == nil {
		t.Fatal("the first INVITE's reliable 183 was not PRACKed")
	}
	send(rawResponseWith(sbc, inv, 422, "T", nil, "Min-SE: 1800"))
	var inv2 *gosip.Request
	for inv2 == nil {
		if r, _ := sbc.read(""); r.Method == gosip.INVITE && r.CSeq().SeqNo != inv.CSeq().SeqNo {
			inv2 = r
		}
	}
	if inv2.CSeq().SeqNo <= prack1.CSeq().SeqNo {
		t.Errorf("the retry has CSeq %d, not above our PRACK's %d with the same Call-ID and From-tag", inv2.CSeq().SeqNo, prack1.CSeq().SeqNo)
	}
	send(rawResponseWith(sbc, inv2, 183, "T", ans, "Require: 100rel", "RSeq: 1"))
	prack2 := rawNextPrack(ctx, sbc, 2*time.Second)
	if prack2 == nil {
		t.Fatal("the retried INVITE's reliable 183 (To-tag T, RSeq 1) was never PRACKed: the SBC will give up on the call")
	}

	if reqToTag(prack2) != "T" {
		t.Errorf("PRACK of the retry's 183 went to To-tag %q, want T", reqToTag(prack2))
	}
	rack, err := sip.ParseRAck(prack2)
	if err != nil || rack.RSeq != 1 || rack.CSeq != inv2.CSeq().SeqNo {
		t.Errorf("PRACK of the retry's 183 has RAck %v (%v), want 1 %d INVITE", rack, err, inv2.CSeq().SeqNo)
	}
	if prack2.CSeq().SeqNo <= inv2.CSeq().SeqNo {
		t.Errorf("PRACK in the retry's early dialog has CSeq %d, not above the retry's %d", prack2.CSeq().SeqNo, inv2.CSeq().SeqNo)
	}
	send(rawResponseWith(sbc, inv2, 200, "T", ans))
	if res := oc.answer(ctx, nil); res.StatusCode != 200 {
		t.Fatalf("caller got %d", res.StatusCode)
	}
}

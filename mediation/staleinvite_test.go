package mediation_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
)

// rawCaller is a caller whose messages are text the test built, so that it
// can send the very same INVITE again, byte for byte, as a delayed
// datagram or a replay would.
type rawCaller struct {
	t    *testing.T
	tr   string
	conn net.Conn
	rd   *bufio.Reader
	srv  *mediation.Server
}

// dialRawCaller connects a raw caller to the server's edge side (UDP: a
// connected socket, which the server's responses reach at its Via port).
func dialRawCaller(t *testing.T, srv *mediation.Server, tr string) *rawCaller {
	t.Helper()
	conn, err := net.Dial(tr, srv.EdgeAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &rawCaller{t: t, tr: tr, conn: conn, rd: bufio.NewReader(conn), srv: srv}
}

// invite builds an initial INVITE with its own Via branch.
func (rc *rawCaller) invite(callID, fromTag string, seq uint32) *gosip.Request {
	rc.t.Helper()
	inv := request(gosip.INVITE, rc.srv.EdgeAddr().String(), rc.tr, fixtureBody(rc.t, "sfb-bypass-offer.sdp"))
	inv.PrependHeader(gosip.NewHeader("Via", fmt.Sprintf("SIP/2.0/%s %s;branch=%s", strings.ToUpper(rc.tr), rc.conn.LocalAddr(), gosip.GenerateBranch())))
	from := &gosip.FromHeader{Address: gosip.Uri{Scheme: "sip", User: "+15550199", Host: "127.0.0.1"}, Params: gosip.NewParams()}
	from.Params.Add("tag", fromTag)
	inv.AppendHeader(from)
	inv.AppendHeader(&gosip.ToHeader{Address: inv.Recipient, Params: gosip.NewParams()})
	cid := gosip.CallIDHeader(callID)
	inv.AppendHeader(&cid)
	inv.AppendHeader(&gosip.CSeqHeader{SeqNo: seq, MethodName: gosip.INVITE})
	inv.AppendHeader(gosip.NewHeader("Max-Forwards", "70"))
	return inv
}

// inTransaction builds the ACK of a non-2xx final response res, or the
// CANCEL (res nil) of inv: the INVITE's Via, branch and CSeq number.
func inTransaction(method gosip.RequestMethod, inv *gosip.Request, res *gosip.Response) *gosip.Request {
	req := gosip.NewRequest(method, inv.Recipient)
	req.AppendHeader(gosip.HeaderClone(inv.Via()))
	req.AppendHeader(gosip.HeaderClone(inv.From()))
	if res != nil {
		req.AppendHeader(gosip.HeaderClone(res.To()))
	} else {
		req.AppendHeader(gosip.HeaderClone(inv.To()))
	}
	req.AppendHeader(gosip.HeaderClone(inv.CallID()))
	req.AppendHeader(&gosip.CSeqHeader{SeqNo: inv.CSeq().SeqNo, MethodName: method})
	req.AppendHeader(gosip.NewHeader("Max-Forwards", "70"))
	req.SetBody(nil)
	return req
}

func (rc *rawCaller) send(ctx context.Context, msg []byte) {
	rc.t.Helper()
	if _, err := rc.conn.Write(msg); err != nil {
		rc.t.Fatal(err)
	}
}

// until reads responses until one to method with code >= min (a final
// one for min 200) comes, the test failing at ctx's end.
func (rc *rawCaller) until(ctx context.Context, method gosip.RequestMethod, min int) *gosip.Response {
	rc.t.Helper()
	deadline, _ := ctx.Deadline()
	_ = rc.conn.SetReadDeadline(deadline)
	for {
		res := readResponse(rc.t, rc.conn, rc.rd, rc.tr)
		if res.CSeq().MethodName == method && res.StatusCode >= min {
			return res
		}
	}
}

// failedCall makes a call that fails (the SBC's 486, or cancelled by the
// caller once ringing: 487), ACKs its final response and waits for the
// call to end. It returns the INVITE as sent and the final response.
func failedCall(ctx context.Context, t *testing.T, rc *rawCaller, inv *gosip.Request, cancel bool) (wire []byte, final *gosip.Response) {
	t.Helper()
	wire = []byte(inv.String())
	rc.send(ctx, wire)
	if cancel {
		rc.until(ctx, gosip.INVITE, 180)
		rc.send(ctx, []byte(inTransaction(gosip.CANCEL, inv, nil).String()))
	}
	final = rc.until(ctx, gosip.INVITE, 200)
	rc.send(ctx, []byte(inTransaction(gosip.ACK, inv, final).String()))
	mediationtest.WaitMetric(t, rc.srv, 0, "mediationserver_calls_current", "direction", "outbound")
	return wire, final
}

// transactionsGone waits for the edge side's server transactions to end:
// over UDP an ACKed INVITE's 5 s after the ACK (Timer I, sipgo's T4 in
// this binary), over TCP at once. Until then a copy of the INVITE is
// absorbed by its transaction and never reaches the server.
func (rc *rawCaller) transactionsGone(ctx context.Context) {
	rc.t.Helper()
	waitUntil(ctx, rc.t, "the INVITEs' server transactions to end", func() bool { return rc.srv.EdgeServerTransactions() == 0 })
}

// resTag is a response's To-tag.
func resTag(res *gosip.Response) string {
	tag, _ := res.To().Params.Get("tag")
	return tag
}

// TestStaleInviteOfFailedCall: the very same INVITE as a call's, arriving
// after the call has failed and its server transaction is gone (a delayed
// datagram, a late retransmission, a replay), gets the final response the
// call sent, with our To-tag (the SBC's 486 with its phrase, or 487 for a
// call the caller cancelled), and makes no call: the SBC gets no second
// INVITE, calls_total stays 1, there is one record and one call in the
// web page's book. r24-obs F5: it rang the callee again.
func TestStaleInviteOfFailedCall(t *testing.T) {
	for _, cancel := range []bool{false, true} {
		for _, tr := range transports {
			name := map[bool]string{false: "rejected", true: "cancelled"}[cancel] + "/" + tr
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				ctx := testCtx(t, 40*time.Second)
				sbc := startPeer(t, "sbc")
				sbc.invites(func(pi *peerInvite) {
					if cancel {
						pi.respond(180, nil) // sipgo answers the CANCEL 487
						return
					}
					res := pi.response(486, nil)
					res.Reason = "Callee Is Busy"
					_ = pi.tx.Respond(res)
				})
				records := t.TempDir() + "/calls.jsonl"
				srv := serveTo(t, sbc.addr(), tr, func(c *mediation.Config) { c.Records.Path = records })
				rc := dialRawCaller(t, srv, tr)
				inv := rc.invite("stale-"+gosip.GenerateTagN(8), "caller1", 1)
				wire, first := failedCall(ctx, t, rc, inv, cancel)
				rc.transactionsGone(ctx)
				want, wantPhrase := 486, "Callee Is Busy"
				if cancel {
					want, wantPhrase = 487, "Request Terminated"
				}
				if first.StatusCode != want || first.Reason != wantPhrase || resTag(first) == "" {
					t.Fatalf("the call got %d %q with To-tag %q, want %d %q with our tag", first.StatusCode, first.Reason, resTag(first), want, wantPhrase)
				}

				rc.send(ctx, wire)
				again := rc.until(ctx, gosip.INVITE, 101)
				if again.StatusCode != first.StatusCode || again.Reason != first.Reason || resTag(again) != resTag(first) {
					t.Fatalf("the copy got %d %q with To-tag %q, want the call's %d %q with its tag %q",
						again.StatusCode, again.Reason, resTag(again), first.StatusCode, first.Reason, resTag(first))
				}
				rc.send(ctx, []byte(inTransaction(gosip.ACK, inv, again).String()))
				if n := sbc.count(gosip.INVITE); n != 1 {
					t.Errorf("the SBC got %d INVITEs, want 1", n)
				}
				for _, m := range []struct {
					name   string
					labels []string
					want   float64
				}{
					{"mediationserver_calls_total", []string{"direction", "outbound"}, 1},
					{"mediationserver_calls_current", []string{"direction", "outbound"}, 0},
					{"mediationserver_sip_stale_invites_total", []string{"side", "edge"}, 1},
				} {
					if v, err := mediationtest.Metric(srv, m.name, m.labels...); err != nil || v != m.want {
						t.Errorf("%s%v = %v (%v), want %v", m.name, m.labels, v, err, m.want)
					}
				}
				if recs := readRecords(t, records); len(recs) != 1 {
					t.Errorf("%d records, want the call's one", len(recs))
				}
				if n := srv.BookCalls(); n != 1 {
					t.Errorf("the web page's book holds %d calls, want 1", n)
				}
			})
		}
	}
}

// TestInviteReusingCallIDIsANewCall: after a call has failed, an INVITE
// with its Call-ID but another From-tag, and one with its From-tag and the
// next CSeq (a caller trying again after a 3xx or our 422, RFC 3261
// §8.1.3.4), are new calls, not copies of the ended one. A copy of the
// first INVITE after the second call with its From-tag ended (a CSeq lower
// than that call's) makes no call either: 481.
func TestInviteReusingCallIDIsANewCall(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t, 40*time.Second)
			sbc := startPeer(t, "sbc")
			sbc.invites(func(pi *peerInvite) { pi.respond(486, nil) })
			srv := serveTo(t, sbc.addr(), tr, nil)
			rc := dialRawCaller(t, srv, tr)
			callID := "reuse-" + gosip.GenerateTagN(8)
			wire, first := failedCall(ctx, t, rc, rc.invite(callID, "caller1", 1), false)
			tags := map[string]bool{resTag(first): true}
			for i, inv := range []*gosip.Request{rc.invite(callID, "caller2", 1), rc.invite(callID, "caller1", 2)} {
				_, res := failedCall(ctx, t, rc, inv, false)
				if res.StatusCode != 486 || tags[resTag(res)] {
					t.Fatalf("INVITE %d (%s) got %d with To-tag %q, want the SBC's 486 in a new call of its own",
						i+2, inv.From().Value(), res.StatusCode, resTag(res))
				}
				tags[resTag(res)] = true
				if n := sbc.count(gosip.INVITE); n != i+2 {
					t.Fatalf("the SBC got %d INVITEs, want %d", n, i+2)
				}
			}
			mediationtest.WaitMetric(t, srv, 3, "mediationserver_calls_total", "direction", "outbound")
			// Each a call of its own in the trace and the web page too:
			// the new INVITE was traced under the ended call's id, so its
			// call had no INVITE and no place in the book.
			waitCalls(t, srv, 0)
			if ends := srv.BookEnds(); len(ends) != 3 {
				t.Errorf("the call book holds %v, want the three calls", ends)
			} else {
				for id, end := range ends {
					if end == "in progress" {
						t.Errorf("call %s is in progress in the book", id)
					}
				}
			}

			rc.transactionsGone(ctx)
			rc.send(ctx, wire)
			if res := rc.until(ctx, gosip.INVITE, 101); res.StatusCode != 481 {
				t.Fatalf("a copy of the first INVITE got %d %s, want 481", res.StatusCode, res.Reason)
			}
			if n := sbc.count(gosip.INVITE); n != 3 {
				t.Errorf("the SBC got %d INVITEs, want 3", n)
			}
			mediationtest.WaitMetric(t, srv, 3, "mediationserver_calls_total", "direction", "outbound")
			mediationtest.WaitMetric(t, srv, 1, "mediationserver_sip_stale_invites_total", "side", "edge")
		})
	}
}

package mediation_test

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
	"github.com/mediation-emulator/mediation/sip"
)

// TestAttendedTransfer: a client in two calls to the same SBC transfers
// the first to the second (RFC 5589 §7): its REFER's Refer-To carries a
// Replaces naming its own leg of the second call. The SBC gets the REFER
// in the first call's gateway dialog with a Replaces naming the second
// call's gateway dialog, as the SBC's own dialog (its tag the to-tag), and
// a Refer-To at its Contact there; the SBC joins its parties itself, its
// NOTIFY reaches the client, its BYE of the replaced dialog ends the second
// call (the client gets BYE), and the client's BYE ends the first. A
// Replaces that names no call of this server, or the REFER's own call, gets
// 501 with a Warning and nothing reaches the SBC.
func TestAttendedTransfer(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			ctx := testCtx(t, 30*time.Second)
			sbc, caller := startPeer(t, "sbc"), startPeer(t, "caller")
			takeNotifies(caller)
			refers := make(chan *gosip.Request, 1)
			sbc.on(gosip.REFER, func(req *gosip.Request, tx gosip.ServerTransaction) {
				sbc.reply(req, tx, 202, nil)
				refers <- req
			})
			invites := make(chan *peerInvite, 2)
			sbc.invites(func(pi *peerInvite) {
				pi.respond(200, fixtureBody(t, "sbc-answer-pcma.sdp"))
				invites <- pi
			})
			srv := serveTo(t, sbc.addr(), tr, nil)
			held := upCall(ctx, t, caller, srv, tr) // A: the call to transfer
			piA := <-invites
			consult := upCall(ctx, t, caller, srv, tr) // B: the consultation call
			piB := <-invites
			toTag, _ := consult.final.To().Params.Get("tag")
			fromTag, _ := consult.inv.From().Params.Get("tag")
			refer := func(oc *outCall, rep sip.Replaces) *gosip.Response {
				req := gosip.NewRequest(gosip.REFER, oc.final.Contact().Address)
				req.AppendHeader(gosip.NewHeader("Refer-To", "<sip:+15550300@sfb.example.com;user=phone?Replaces="+rep.URIHeader()+">"))
				req.AppendHeader(gosip.NewHeader("Referred-By", "<sip:alice@sfb.example.com>"))
				return doIn(ctx, t, oc, req)
			}
			rep := sip.Replaces{CallID: string(*consult.inv.CallID()), ToTag: toTag, FromTag: fromTag}

			// Refused: a Replaces of no call, and one naming the REFER's
			// own call.
			heldTo, _ := held.final.To().Params.Get("tag")
			heldFrom, _ := held.inv.From().Params.Get("tag")
			for name, bad := range map[string]sip.Replaces{
				"unknown dialog": {CallID: rep.CallID, ToTag: "nope", FromTag: fromTag},
				"wrong from-tag": {CallID: rep.CallID, ToTag: toTag, FromTag: "nope"},
				"its own call":   {CallID: string(*held.inv.CallID()), ToTag: heldTo, FromTag: heldFrom},
			} {
				if res := refer(held, bad); res.StatusCode != 501 || res.GetHeader("Warning") == nil {
					t.Errorf("%s: REFER got %d (Warning %v), want 501 with a Warning", name, res.StatusCode, res.GetHeader("Warning"))
				}
			}
			if n := sbc.count(gosip.REFER); n != 0 {
				t.Fatalf("%d refused REFERs reached the SBC", n)
			}

			if res := refer(held, rep); res.StatusCode != 202 {
				t.Fatalf("REFER got %d %s, want the SBC's 202", res.StatusCode, res.Reason)
			}
			var got *gosip.Request
			select {
			case got = <-refers:
			case <-ctx.Done():
				t.Fatal("no REFER at the SBC")
			}
			if id := string(*got.CallID()); id != string(*piA.req.CallID()) {
				t.Errorf("REFER in Call-ID %s, want the held call's gateway dialog %s", id, *piA.req.CallID())
			}
			gotRep, err := sip.ReplacesOfReferTo(headerValue(got, "Refer-To"))
			ourTag, _ := piB.req.From().Params.Get("tag")
			want := sip.Replaces{CallID: string(*piB.req.CallID()), ToTag: piB.tag, FromTag: ourTag}
			if err != nil || gotRep != want {
				t.Errorf("SBC's Refer-To %q: Replaces %+v (%v), want the consultation call's gateway dialog %+v", headerValue(got, "Refer-To"), gotRep, err, want)
			}
			var target gosip.Uri
			var params gosip.HeaderParams
			if _, err := gosip.ParseAddressValue(headerValue(got, "Refer-To"), &target, &params); err != nil ||
				target.Host != piB.p.stack.Contact("sbc", piB.req.Transport()).Address.Host || target.Port != piB.p.stack.Contact("sbc", piB.req.Transport()).Address.Port {
				t.Errorf("SBC's Refer-To %q (%v), want the SBC's Contact in the consultation call", headerValue(got, "Refer-To"), err)
			}
			if !strings.Contains(headerValue(got, "Referred-By"), "alice") {
				t.Errorf("Referred-By %q not relayed", headerValue(got, "Referred-By"))
			}

			// The SBC joins its parties: NOTIFY in A, BYE of B's leg.
			notify := piA.inDialog(gosip.NOTIFY, piA.req.CSeq().SeqNo+1, nil, gosip.NewHeader("Event", "refer"),
				gosip.NewHeader("Subscription-State", "terminated;reason=noresource"))
			notify.AppendHeader(gosip.NewHeader("Content-Type", "message/sipfrag;version=2.0"))
			notify.SetBody([]byte("SIP/2.0 200 OK\r\n"))
			if res := piA.do(ctx, notify); res.StatusCode != 200 {
				t.Fatalf("NOTIFY got %d", res.StatusCode)
			}
			if n := caller.wait(ctx, gosip.NOTIFY, 1); string(n.Body()) != "SIP/2.0 200 OK\r\n" {
				t.Errorf("client's NOTIFY body %q", n.Body())
			}
			if res := piB.do(ctx, piB.inDialog(gosip.BYE, piB.req.CSeq().SeqNo+1, nil)); res.StatusCode != 200 {
				t.Fatalf("SBC's BYE of the replaced dialog got %d", res.StatusCode)
			}
			if bye := caller.wait(ctx, gosip.BYE, 1); string(*bye.CallID()) != string(*consult.inv.CallID()) {
				t.Errorf("client's BYE in Call-ID %s, want the consultation call's %s", *bye.CallID(), *consult.inv.CallID())
			}
			if err := held.d.Bye(ctx); err != nil {
				t.Fatal(err)
			}
			if bye := sbc.wait(ctx, gosip.BYE, 1); string(*bye.CallID()) != string(*piA.req.CallID()) {
				t.Errorf("SBC's BYE in Call-ID %s, want the held call's %s", *bye.CallID(), *piA.req.CallID())
			}
			mediationtest.WaitMetric(t, srv, 0, "mediationserver_calls_current", "direction", "outbound")
		})
	}
}

// TestAttendedTransferAcrossTrunks: the two calls go to different SBCs,
// neither of which holds both dialogs: 501 with a Warning, and neither SBC
// gets a REFER.
func TestAttendedTransferAcrossTrunks(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	sbc1, sbc2, caller := startPeer(t, "sbc"), startPeer(t, "sbc"), startPeer(t, "caller")
	cfg := labConfig(sbc1.addr(), "udp")
	cfg.Gateways = []mediation.GatewayConfig{trunkConfig("first", sbc1, 1, "+1"), trunkConfig("second", sbc2, 0, "+1555099")}
	srv := mediationtest.Serve(t, cfg, zerolog.Nop())
	held := upCall(ctx, t, caller, srv, "udp")
	consult := caller.callNumber(ctx, srv.EdgeAddr(), "udp", "+15550990", fixtureBody(t, "sfb-bypass-offer.sdp"))
	if res := consult.answer(ctx, nil); res.StatusCode != 200 {
		t.Fatalf("consultation call got %d", res.StatusCode)
	}
	_ = consult.d.Ack(ctx)
	if sbc2.count(gosip.INVITE) != 1 {
		t.Fatalf("the consultation call did not go to the second SBC (%s)", sbc2.methods())
	}
	toTag, _ := consult.final.To().Params.Get("tag")
	fromTag, _ := consult.inv.From().Params.Get("tag")
	rep := sip.Replaces{CallID: string(*consult.inv.CallID()), ToTag: toTag, FromTag: fromTag}
	req := gosip.NewRequest(gosip.REFER, held.final.Contact().Address)
	req.AppendHeader(gosip.NewHeader("Refer-To", "<sip:+15550990@sfb.example.com;user=phone?Replaces="+rep.URIHeader()+">"))
	res := doIn(ctx, t, held, req)
	if res.StatusCode != 501 || !strings.Contains(valueOf(res.GetHeader("Warning")), "different trunks") {
		t.Errorf("REFER got %d (Warning %v), want 501 naming the trunks", res.StatusCode, res.GetHeader("Warning"))
	}
	if sbc1.count(gosip.REFER)+sbc2.count(gosip.REFER) != 0 {
		t.Error("a REFER reached an SBC")
	}
	_ = held.d.Bye(ctx)
	_ = consult.d.Bye(ctx)
	mediationtest.WaitMetric(t, srv, 0, "mediationserver_calls_current", "direction", "outbound")
}

// TestAttendedTransferOtherClientsCall: a client's Replaces that names
// another client's call (another user, another Contact) gets 501: relayed,
// the SBC would hand that user's call to this client's PSTN party.
func TestAttendedTransferOtherClientsCall(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	sbc := startPeer(t, "sbc")
	alice := startPeer(t, "alice")
	bob := startPeerOn(t, "bob", netip.MustParseAddrPort("127.0.0.5:0"), nil)
	srv := serveTo(t, sbc.addr(), "udp", nil)
	held := upCall(ctx, t, alice, srv, "udp")
	other := upCall(ctx, t, bob, srv, "udp")
	toTag, _ := other.final.To().Params.Get("tag")
	fromTag, _ := other.inv.From().Params.Get("tag")
	rep := sip.Replaces{CallID: string(*other.inv.CallID()), ToTag: toTag, FromTag: fromTag}
	req := gosip.NewRequest(gosip.REFER, held.final.Contact().Address)
	req.AppendHeader(gosip.NewHeader("Refer-To", "<sip:+15550300@sfb.example.com;user=phone?Replaces="+rep.URIHeader()+">"))
	res := doIn(ctx, t, held, req)
	if res.StatusCode != 501 || !strings.Contains(valueOf(res.GetHeader("Warning")), "another client") {
		t.Errorf("REFER naming bob's call got %d (Warning %v), want 501", res.StatusCode, res.GetHeader("Warning"))
	}
	if n := sbc.count(gosip.REFER); n != 0 {
		t.Error("the REFER reached the SBC")
	}
	_ = held.d.Bye(ctx)
	_ = other.d.Bye(ctx)
	mediationtest.WaitMetric(t, srv, 0, "mediationserver_calls_current", "direction", "outbound")
}

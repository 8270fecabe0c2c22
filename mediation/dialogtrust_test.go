package mediation_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
)

// foreignAttack is an in-dialog request a peer that is not the call's
// sends with the call's dialog ids: each must get 403.
type foreignAttack struct {
	method gosip.RequestMethod
	body   []byte
	hdrs   []gosip.Header
}

func foreignAttacks(t *testing.T) []foreignAttack {
	sipfrag := []byte("SIP/2.0 200 OK\r\n")
	return []foreignAttack{
		{gosip.BYE, nil, nil},
		{gosip.INVITE, fixtureBody(t, "sbc-offer-pcma-pcmu.sdp"), nil},
		{gosip.UPDATE, nil, nil},
		{gosip.REFER, nil, []gosip.Header{gosip.NewHeader("Refer-To", "<sip:+15559990000@evil.example>"),
			gosip.NewHeader("Referred-By", "<sip:+15550000@evil.example>")}},
		{gosip.NOTIFY, sipfrag, []gosip.Header{gosip.NewHeader("Event", "refer"),
			gosip.NewHeader("Subscription-State", "terminated;reason=noresource")}},
	}
}

// sendForeign sends req from p (not the call's peer) and wants 403.
func sendForeign(ctx context.Context, t *testing.T, p *peer, req *gosip.Request) {
	t.Helper()
	res, err := p.stack.Client("udp").Do(ctx, req)
	if err != nil {
		t.Fatalf("%s from %s: %v", req.Method, p.addr(), err)
	}
	if res.StatusCode != 403 {
		t.Fatalf("%s from %s (not the call's peer) got %d, want 403", req.Method, p.addr(), res.StatusCode)
	}
}

// TestInDialogFromAnotherTrunk: two trunks, sbc1 on 127.0.0.1 and sbc2 on
// 127.0.0.2, both trusted on the gateway side. sbc2 learns the gateway
// dialog ids of a call on sbc1 and sends BYE, re-INVITE (moving the media
// to itself), UPDATE, REFER and NOTIFY in it: each gets 403 and is
// counted, the client hears of none, and the call goes on with sbc1: its
// remote target did not move (the client's BYE reaches sbc1, not sbc2), or
// sbc1 hangs up normally.
func TestInDialogFromAnotherTrunk(t *testing.T) {
	for _, hangup := range []string{"trunk", "client"} {
		t.Run(hangup+" hangs up", func(t *testing.T) {
			ctx := testCtx(t, 30*time.Second)
			sbc1 := startPeerOn(t, "sbc1", netip.MustParseAddrPort("127.0.0.1:0"), nil)
			sbc2 := startPeerOn(t, "sbc2", netip.MustParseAddrPort("127.0.0.2:0"), nil)
			caller := startPeer(t, "caller")
			takeNotifies(caller)
			invites := make(chan *peerInvite, 1)
			sbc1.invites(func(pi *peerInvite) {
				pi.respond(200, fixtureBody(t, "sbc-answer-pcma.sdp"))
				invites <- pi
			})
			srv := serveTo(t, sbc1.addr(), "udp", func(c *mediation.Config) {
				c.Gateways = []mediation.GatewayConfig{trunkConfig("sbc1", sbc1, 0, "+1"), trunkConfig("sbc2", sbc2, 0, "+44")}
			})
			oc := upCall(ctx, t, caller, srv, "udp")
			pi := <-invites
			attacks := foreignAttacks(t)
			for i, a := range attacks {
				sendForeign(ctx, t, sbc2, pi.inDialog(a.method, uint32(10+i), a.body, a.hdrs...))
			}
			mediationtest.WaitMetric(t, srv, float64(len(attacks)), "mediationserver_sip_foreign_dialog_requests_total", "side", "gateway")
			if hangup == "trunk" {
				if res := pi.do(ctx, pi.inDialog(gosip.BYE, 2, nil)); res.StatusCode != 200 {
					t.Fatalf("sbc1's own BYE got %d, want 200: the call was not up", res.StatusCode)
				}
				caller.wait(ctx, gosip.BYE, 1)
			} else {
				if err := oc.d.Bye(ctx); err != nil {
					t.Fatalf("client's BYE: %v", err)
				}
				sbc1.wait(ctx, gosip.BYE, 1)
			}
			for _, m := range []gosip.RequestMethod{gosip.INVITE, gosip.REFER, gosip.NOTIFY, gosip.UPDATE} {
				if n := caller.count(m); n != 0 {
					t.Errorf("the client got %d %s from sbc2's requests", n, m)
				}
			}
			if got := sbc2.methods(); got != "" {
				t.Errorf("sbc2 got requests of the call: %s", got)
			}
			if n := caller.count(gosip.BYE) + sbc1.count(gosip.BYE); n != 1 {
				t.Errorf("%d BYEs reached the call's peers, want the one of its hang-up", n)
			}
		})
	}
}

// TestInDialogFromAnotherClient: on the edge side, a host in edge.trust
// (127.0.0.3, in the default 127.0.0.0/8) that is neither the caller
// (127.0.0.1) nor edge.peer sends BYE, re-INVITE, UPDATE, REFER and
// NOTIFY in the client's dialog: 403 each, counted, the SBC hears of none,
// and the client's own BYE ends the call at the SBC.
func TestInDialogFromAnotherClient(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	sbc, caller := startPeer(t, "sbc"), startPeer(t, "caller")
	intruder := startPeerOn(t, "intruder", netip.MustParseAddrPort("127.0.0.3:0"), nil)
	srv := serveTo(t, sbc.addr(), "udp", func(c *mediation.Config) { c.Edge.Peer = "127.0.0.4:5061" })
	oc := upCall(ctx, t, caller, srv, "udp")
	attacks := foreignAttacks(t)
	for i, a := range attacks {
		req := gosip.NewRequest(a.method, oc.final.Contact().Address)
		from, to, callID := oc.inv.From(), oc.final.To(), *oc.inv.CallID()
		req.AppendHeader(&gosip.FromHeader{Address: from.Address, Params: from.Params.Clone()})
		req.AppendHeader(&gosip.ToHeader{Address: to.Address, Params: to.Params.Clone()})
		req.AppendHeader(&callID)
		req.AppendHeader(&gosip.CSeqHeader{SeqNo: uint32(10 + i), MethodName: a.method})
		contact := intruder.stack.Contact("caller", "udp")
		req.AppendHeader(&contact)
		for _, h := range a.hdrs {
			req.AppendHeader(h)
		}
		if a.body != nil {
			req.AppendHeader(gosip.NewHeader("Content-Type", "application/sdp"))
			req.SetBody(a.body)
		}
		sendForeign(ctx, t, intruder, req)
	}
	mediationtest.WaitMetric(t, srv, float64(len(attacks)), "mediationserver_sip_foreign_dialog_requests_total", "side", "edge")
	if err := oc.d.Bye(ctx); err != nil {
		t.Fatalf("client's BYE: %v", err)
	}
	sbc.wait(ctx, gosip.BYE, 1)
	for _, m := range []gosip.RequestMethod{gosip.REFER, gosip.NOTIFY, gosip.UPDATE} {
		if n := sbc.count(m); n != 0 {
			t.Errorf("the SBC got %d %s from the intruder's requests", n, m)
		}
	}
	if n := sbc.count(gosip.INVITE); n != 1 {
		t.Errorf("the SBC got %d INVITEs, want the call's one (no relayed re-INVITE)", n)
	}
	if n := sbc.count(gosip.BYE); n != 1 {
		t.Errorf("the SBC got %d BYEs, want the client's one", n)
	}
}

// TestInDialogFromClientBehindProxy: a client whose INVITE came through a
// proxy that did not Record-Route (the README's Kamailio pool) sends its
// in-dialog requests to our Contact itself, from its own IP, the one its
// Contact names: they are the call's peer's, not a stranger's.
func TestInDialogFromClientBehindProxy(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	sbc := startPeer(t, "sbc")
	proxy := startPeerOn(t, "proxy", netip.MustParseAddrPort("127.0.0.6:0"), nil)
	client := startPeerOn(t, "client", netip.MustParseAddrPort("127.0.0.5:0"), nil)
	srv := serveTo(t, sbc.addr(), "udp", func(c *mediation.Config) { c.Edge.Peer = "127.0.0.4:5061" })
	inv := request(gosip.INVITE, srv.EdgeAddr().String(), "udp", fixtureBody(t, "sfb-bypass-offer.sdp"))
	inv.RemoveHeader("Contact")
	contact := client.stack.Contact("caller", "udp")
	inv.AppendHeader(&contact)
	from := &gosip.FromHeader{Address: gosip.Uri{Scheme: "sip", User: "+15550199", Host: "127.0.0.5"}, Params: gosip.NewParams()}
	from.Params.Add("tag", gosip.GenerateTagN(10))
	inv.AppendHeader(from)
	d, err := (&sipgo.DialogUA{Client: proxy.stack.Client("udp"), ContactHDR: contact}).WriteInvite(ctx, inv)
	if err != nil {
		t.Fatal(err)
	}
	oc := &outCall{p: proxy, inv: inv, d: d}
	if res := oc.answer(ctx, nil); res.StatusCode != 200 {
		t.Fatalf("call got %d", res.StatusCode)
	}
	if err := oc.d.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	bye := gosip.NewRequest(gosip.BYE, oc.final.Contact().Address)
	to, callID := oc.final.To(), *inv.CallID()
	bye.AppendHeader(&gosip.FromHeader{Address: from.Address, Params: from.Params.Clone()})
	bye.AppendHeader(&gosip.ToHeader{Address: to.Address, Params: to.Params.Clone()})
	bye.AppendHeader(&callID)
	bye.AppendHeader(&gosip.CSeqHeader{SeqNo: inv.CSeq().SeqNo + 1, MethodName: gosip.BYE})
	res, err := client.stack.Client("udp").Do(ctx, bye)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("the client's own BYE from its Contact's IP got %v (%v), want 200", res, err)
	}
	sbc.wait(ctx, gosip.BYE, 1)
}

package mediation_test

import (
	"context"
	"crypto/tls"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/labca"
	"github.com/mediation-emulator/mediation/sip"
)

// TestReferToOverDialogTransport: the relayed REFER's Refer-To names our
// listener of the transport the dialog it goes in uses, as our Contact
// there does: the TLS port with transport=tls on a TLS trunk (and a sips:
// URI in a SIPS dialog), transport=tcp on a TCP trunk, the edge's TLS
// port towards a client over TLS. It named the plain UDP/TCP listener
// without transport, so the peer's transfer INVITE went in clear, or over
// UDP to a TCP-only peer. r24-refer #4.
func TestReferToOverDialogTransport(t *testing.T) {
	l := newLab(t, []string{"mediation.lab", "127.0.0.1"}, []string{"sbc.lab", "127.0.0.1"})
	answerRefer := func(p *peer) {
		p.on(gosip.REFER, func(req *gosip.Request, tx gosip.ServerTransaction) { p.reply(req, tx, 202, nil) })
	}
	// clientRefers: the client's REFER in its outbound call reaches the
	// SBC with want (the gateway side's address in it).
	clientRefers := func(ctx context.Context, t *testing.T, srv *mediation.Server, sbc, caller *peer, want string) {
		t.Helper()
		oc := upCall(ctx, t, caller, srv, "udp")
		refer := gosip.NewRequest(gosip.REFER, oc.final.Contact().Address)
		refer.AppendHeader(gosip.NewHeader("Refer-To", "<tel:+15550200>"))
		if res := doIn(ctx, t, oc, refer); res.StatusCode != 202 {
			t.Fatalf("REFER got %d", res.StatusCode)
		}
		got := sbc.wait(ctx, gosip.REFER, 1)
		if v := headerValue(got, "Refer-To"); v != want {
			t.Errorf("SBC's Refer-To %s (Contact %s), want %s", v, got.Contact().Value(), want)
		}
		_ = oc.d.Bye(ctx)
		sbc.wait(ctx, gosip.BYE, 1)
	}

	t.Run("tcp trunk", func(t *testing.T) {
		ctx := testCtx(t, 30*time.Second)
		sbc, caller := startPeer(t, "sbc"), startPeer(t, "caller")
		answerRefer(sbc)
		srv := serveTo(t, sbc.addr(), "tcp", nil)
		clientRefers(ctx, t, srv, sbc, caller, "<sip:+15550200@"+srv.GatewayAddr().String()+";user=phone;transport=tcp>")
	})
	t.Run("tls trunk", func(t *testing.T) {
		ctx := testCtx(t, 30*time.Second)
		sbc, caller := startPeerTLS(t, "sbc", l.sbcTLS(t)), startPeer(t, "caller")
		answerRefer(sbc)
		srv := tlsServer(t, l, sbc.stack.TLSAddr(), nil)
		clientRefers(ctx, t, srv, sbc, caller, "<sip:+15550200@"+srv.GatewayTLSAddr().String()+";user=phone;transport=tls>")
	})
	t.Run("sips dialog", func(t *testing.T) {
		// The SBC calls in over TLS with a sips: Contact: the dialog is
		// SIPS, our Contact in it sips:, and so is the Refer-To.
		ctx := testCtx(t, 30*time.Second)
		sbc, client := startPeerTLS(t, "sbc", l.sbcTLS(t)), startPeer(t, "client")
		answerRefer(sbc)
		clients := make(chan *peerInvite, 1)
		client.invites(func(pi *peerInvite) {
			pi.respond(200, fixtureBody(t, "sbc-answer-pcma.sdp"))
			clients <- pi
		})
		srv := tlsServer(t, l, sbc.stack.TLSAddr(), func(c *mediation.Config) { c.Edge.Peer = client.addr().String() })
		inv := request(gosip.INVITE, srv.GatewayTLSAddr().String(), "tls", fixtureBody(t, "sbc-offer-pcma-pcmu.sdp"))
		inv.Recipient.Scheme = "sips"
		inv.RemoveHeader("Contact")
		contact := sbc.stack.Contact("caller", "tls")
		contact.Address.Scheme, contact.Address.UriParams = "sips", nil
		inv.AppendHeader(&contact)
		from := &gosip.FromHeader{Address: gosip.Uri{Scheme: "sips", User: "+15550199", Host: sbc.stack.Host()}, Params: gosip.NewParams()}
		from.Params.Add("tag", gosip.GenerateTagN(10))
		inv.AppendHeader(from)
		d, err := (&sipgo.DialogUA{Client: sbc.stack.Client("tls"), ContactHDR: contact}).WriteInvite(ctx, inv)
		if err != nil {
			t.Fatalf("INVITE: %v", err)
		}
		oc := &outCall{p: sbc, inv: inv, d: d}
		if res := oc.answer(ctx, nil); res.StatusCode != 200 {
			t.Fatalf("INVITE got %d", res.StatusCode)
		}
		if err := oc.d.Ack(ctx); err != nil {
			t.Fatal(err)
		}
		pi := next(ctx, t, clients, "client's")
		refer := pi.inDialog(gosip.REFER, 5, nil, gosip.NewHeader("Refer-To", "<sip:+15550200@sfb.example.com;user=phone>"))
		if res := pi.do(ctx, refer); res.StatusCode != 202 {
			t.Fatalf("client's REFER got %d", res.StatusCode)
		}
		got := sbc.wait(ctx, gosip.REFER, 1)
		if v, want := headerValue(got, "Refer-To"), "<sips:+15550200@"+srv.GatewayTLSAddr().String()+";user=phone>"; v != want {
			t.Errorf("SBC's Refer-To %s (Contact %s), want %s", v, got.Contact().Value(), want)
		}
		_ = oc.d.Bye(ctx)
		waitCalls(t, srv, 0)
	})
	t.Run("tls edge", func(t *testing.T) {
		// The SBC's REFER goes to a client over the edge's TLS listener.
		ctx := testCtx(t, 30*time.Second)
		sbc := startPeer(t, "sbc")
		caller := startPeerTLS(t, "caller", &sip.TLSConfig{Client: &tls.Config{RootCAs: l.pool(t), MinVersion: tls.VersionTLS12}})
		answerRefer(caller)
		invites := make(chan *peerInvite, 1)
		sbc.invites(func(pi *peerInvite) {
			pi.respond(200, fixtureBody(t, "sbc-answer-pcma.sdp"))
			invites <- pi
		})
		srv := serveTo(t, sbc.addr(), "udp", func(c *mediation.Config) {
			c.TLS = mediation.TLSConfig{Cert: l.file(labca.ServerFile), Key: l.file(labca.ServerKeyFile), CA: l.file(labca.CAFile),
				EdgeListen: "127.0.0.1:0"}
		})
		oc := caller.call(ctx, srv.EdgeTLSAddr(), "tls", fixtureBody(t, "sbc-offer-pcma-pcmu.sdp"))
		if res := oc.answer(ctx, nil); res.StatusCode != 200 {
			t.Fatalf("call over TLS got %d", res.StatusCode)
		}
		if err := oc.d.Ack(ctx); err != nil {
			t.Fatal(err)
		}
		pi := next(ctx, t, invites, "SBC's")
		refer := pi.inDialog(gosip.REFER, 5, nil, gosip.NewHeader("Refer-To", "<sip:+15550300@sbc.example.com>"))
		if res := pi.do(ctx, refer); res.StatusCode != 202 {
			t.Fatalf("SBC's REFER got %d", res.StatusCode)
		}
		got := caller.wait(ctx, gosip.REFER, 1)
		if v, want := headerValue(got, "Refer-To"), "<sip:+15550300@"+srv.EdgeTLSAddr().String()+";transport=tls>"; v != want {
			t.Errorf("client's Refer-To %s (Contact %s), want %s", v, got.Contact().Value(), want)
		}
		_ = oc.d.Bye(ctx)
		sbc.wait(ctx, gosip.BYE, 1)
	})
}

package mediation_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
)

// closeConn closes the peer's TCP connection to remote (IP:PORT), as an SBC
// that closes its connection after the ACK does.
func (p *peer) closeConn(t *testing.T, remote string) {
	t.Helper()
	c, err := p.stack.UA.TransportLayer().GetConnection("tcp", remote)
	if err != nil {
		t.Fatalf("no TCP connection to %s: %v", remote, err)
	}
	_ = c.Close()
	_, _ = c.TryClose()
}

// TestByeAfterSBCClosesTCP: an SBC that closes its TCP connection once the
// call is up still gets our BYE: the server dials its Contact (RFC 3261
// §12.2, RFC 3263) instead of writing to the connection that is gone.
// Outbound, the server opened the connection; inbound, the SBC did, from
// an ephemeral port nobody listens on.
func TestByeAfterSBCClosesTCP(t *testing.T) {
	t.Run("outbound", func(t *testing.T) {
		ctx := testCtx(t, 20*time.Second)
		sbc := startPeer(t, "sbc")
		sbc.invites(func(pi *peerInvite) {
			pi.respond(200, fixtureBody(t, "sbc-answer-pcma.sdp"))
			if !pi.waitAck(ctx) {
				return
			}
			sbc.closeConn(t, pi.req.Source())
		})
		srv := serveTo(t, sbc.addr(), "tcp", nil)
		caller := startPeer(t, "caller")
		oc := upCall(ctx, t, caller, srv, "udp")
		sbc.wait(ctx, gosip.ACK, 1)
		waitClosed(ctx, t, sbc)
		if err := oc.d.Bye(ctx); err != nil {
			t.Fatal(err)
		}
		bye := sbc.wait(ctx, gosip.BYE, 1)
		if !gosip.IsReliable(bye.Transport()) {
			t.Errorf("BYE came over %s", bye.Transport())
		}
		mediationtest.WaitMetric(t, srv, 0, "mediationserver_calls_current", "direction", "outbound")
	})
	t.Run("inbound", func(t *testing.T) {
		ctx := testCtx(t, 20*time.Second)
		client := startPeer(t, "client")
		sbc := startPeer(t, "sbc")
		srv := serveTo(t, sbc.addr(), "tcp", func(c *mediation.Config) {
			c.Edge.Peer, c.Edge.PeerTransport = client.addr().String(), "udp"
		})
		oc := sbc.call(ctx, srv.GatewayAddr(), "tcp", fixtureBody(t, "sbc-offer-pcma-pcmu.sdp"))
		if res := oc.answer(ctx, nil); res.StatusCode != 200 {
			t.Fatalf("got %d", res.StatusCode)
		}
		_ = oc.d.Ack(ctx)
		client.wait(ctx, gosip.ACK, 1)
		// The SBC's connection to the server came from an ephemeral port.
		sbc.closeConn(t, srv.GatewayAddr().String())
		waitClosed(ctx, t, sbc)
		inv := client.wait(ctx, gosip.INVITE, 1)
		pi := &peerInvite{p: client, req: inv, tag: toTag(t, client, inv)}
		if res := pi.do(ctx, pi.inDialog(gosip.BYE, 2, nil)); res.StatusCode != 200 {
			t.Fatalf("client's BYE got %d", res.StatusCode)
		}
		sbc.wait(ctx, gosip.BYE, 1)
		mediationtest.WaitMetric(t, srv, 0, "mediationserver_calls_current", "direction", "inbound")
	})
}

// toTag is the To-tag the peer answered inv with (read off its wire tap:
// the peer's own responses are not there, so it is taken from the ACK).
func toTag(t *testing.T, p *peer, inv *gosip.Request) string {
	t.Helper()
	ack := p.wait(testCtx(t, 5*time.Second), gosip.ACK, 1)
	tag, _ := ack.To().Params.Get("tag")
	return tag
}

// waitClosed waits until the peer's TCP pool is empty.
func waitClosed(ctx context.Context, t *testing.T, p *peer) {
	t.Helper()
	for p.stack.UA.TransportLayer().Pool("tcp").Size() > 0 {
		select {
		case <-ctx.Done():
			t.Fatal("the peer's TCP connection did not close")
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// udpResponder answers every request read on a bare UDP socket with 200
// and reports each request with its source: a record-routing proxy or an
// SBC's second address.
func udpResponder(t *testing.T) (netip.AddrPort, <-chan received) {
	t.Helper()
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	got := make(chan received, 16)
	go func() {
		buf := make([]byte, 65535)
		for {
			n, src, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			msg, err := gosip.ParseMessage(append([]byte(nil), buf[:n]...))
			req, ok := msg.(*gosip.Request)
			if err != nil || !ok {
				continue
			}
			if !req.IsAck() {
				res := gosip.NewResponseFromRequest(req, 200, "OK", nil)
				_, _ = conn.WriteToUDPAddrPort([]byte(res.String()), src)
			}
			select {
			case got <- received{req, src}:
			default:
			}
		}
	}()
	return conn.LocalAddr().(*net.UDPAddr).AddrPort(), got
}

type received struct {
	req *gosip.Request
	src netip.AddrPort
}

// TestInDialogRouteAndSourcePort: a BYE follows the route set of the
// dialog (the SBC's Record-Route names a proxy) and leaves UDP from the
// side's listening port, the port in our Via, though the proxy is an
// address we never sent to before.
func TestInDialogRouteAndSourcePort(t *testing.T) {
	ctx := testCtx(t, 20*time.Second)
	proxy, got := udpResponder(t)
	sbc := startPeer(t, "sbc")
	sbc.invites(func(pi *peerInvite) {
		pi.respond(200, fixtureBody(t, "sbc-answer-pcma.sdp"),
			gosip.NewHeader("Record-Route", "<sip:"+proxy.String()+";lr>"))
	})
	srv := serveTo(t, sbc.addr(), "udp", nil)
	caller := startPeer(t, "caller")
	oc := upCall(ctx, t, caller, srv, "udp")
	if err := oc.d.Bye(ctx); err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case r := <-got:
			if r.req.Method != gosip.BYE {
				continue // the ACK went through the proxy too
			}
			if r.src != srv.GatewayAddr() {
				t.Errorf("BYE from %s, want the gateway side's port %s", r.src, srv.GatewayAddr())
			}
			// RFC 3261 §12.2.1.1: the route set goes in Route, the remote
			// target in the Request-URI.
			if rt := r.req.Route(); rt == nil || rt.Address.Port != int(proxy.Port()) {
				t.Errorf("BYE's Route %v, want the proxy %s", rt, proxy)
			}
			if r.req.Recipient.Port != int(sbc.addr().Port()) {
				t.Errorf("BYE's Request-URI %s, want the SBC's Contact", r.req.Recipient.String())
			}
			mediationtest.WaitMetric(t, srv, 0, "mediationserver_calls_current", "direction", "outbound")
			return
		case <-ctx.Done():
			t.Fatal("the proxy got no BYE")
		}
	}
}

// TestByeRetriedOnAnotherTarget: an SBC whose Contact names a port nobody
// answers on gets the BYE at the address its messages came from; one that
// is gone for good is recorded as not told.
func TestByeRetriedOnAnotherTarget(t *testing.T) {
	dead, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close() // bound, never read: requests there go unanswered
	t.Run("reached at its source", func(t *testing.T) {
		ctx := testCtx(t, 20*time.Second)
		sbc := startPeer(t, "sbc")
		sbc.invites(func(pi *peerInvite) {
			res := pi.response(200, fixtureBody(t, "sbc-answer-pcma.sdp"))
			res.RemoveHeader("Contact")
			res.AppendHeader(&gosip.ContactHeader{Address: gosip.Uri{Scheme: "sip", User: "sbc", Host: "127.0.0.1", Port: dead.LocalAddr().(*net.UDPAddr).Port}})
			_ = pi.tx.Respond(res)
		})
		records := t.TempDir() + "/calls.jsonl"
		srv := serveTo(t, sbc.addr(), "udp", func(c *mediation.Config) { c.Records.Path = records })
		caller := startPeer(t, "caller")
		oc := upCall(ctx, t, caller, srv, "udp")
		if err := oc.d.Bye(ctx); err != nil {
			t.Fatal(err)
		}
		sbc.wait(ctx, gosip.BYE, 1)
		mediationtest.WaitMetric(t, srv, 0, "mediationserver_calls_current", "direction", "outbound")
		if recs := readRecords(t, records); len(recs) != 1 || len(recs[0].ByeUndelivered) != 0 {
			t.Errorf("records %+v, want one with every BYE delivered", recs)
		}
	})
	t.Run("gone", func(t *testing.T) {
		ctx := testCtx(t, 20*time.Second)
		sbc := startPeer(t, "sbc")
		records := t.TempDir() + "/calls.jsonl"
		srv := serveTo(t, sbc.addr(), "udp", func(c *mediation.Config) { c.Records.Path = records })
		caller := startPeer(t, "caller")
		oc := upCall(ctx, t, caller, srv, "udp")
		sbc.wait(ctx, gosip.ACK, 1)
		_ = sbc.stack.Close() // the SBC is gone
		if err := oc.d.Bye(ctx); err != nil {
			t.Fatal(err)
		}
		mediationtest.WaitMetric(t, srv, 0, "mediationserver_calls_current", "direction", "outbound")
		recs := readRecords(t, records)
		if len(recs) != 1 || len(recs[0].ByeUndelivered) != 1 || recs[0].ByeUndelivered[0] != "gateway" {
			t.Fatalf("records %+v, want the gateway leg recorded as not told", recs)
		}
	})
}

// TestInDialogNextHopTransport: in-dialog requests take the next hop's
// transport and address from the route set. A proxy that bridges UDP and
// TCP records transport=tcp (Kamailio's double Record-Route): our ACK and
// BYE to the SBC go to it over TCP, though the SBC's Contact says UDP
// (RFC 3261 §8.1.2, RFC 3263 §4.1). And over TCP a route naming another
// host than the connection the INVITE went on is followed: the ACK and
// BYE go to the recorded proxy, not down the open connection to the SBC.
func TestInDialogNextHopTransport(t *testing.T) {
	for _, tc := range []struct{ name, trunk string }{{"udp trunk, tcp route", "udp"}, {"tcp trunk, route to another host", "tcp"}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t, 20*time.Second)
			proxy := startPeerOn(t, "proxy", netip.MustParseAddrPort("127.0.0.2:0"), nil)
			sbc := startPeer(t, "sbc")
			sbc.invites(func(pi *peerInvite) {
				pi.respond(200, fixtureBody(t, "sbc-answer-pcma.sdp"),
					gosip.NewHeader("Record-Route", "<sip:"+proxy.addr().String()+";transport=tcp;lr>"))
			})
			srv := serveTo(t, sbc.addr(), tc.trunk, nil)
			caller := startPeer(t, "caller")
			oc := upCall(ctx, t, caller, srv, "udp")
			ack := proxy.wait(ctx, gosip.ACK, 1)
			if err := oc.d.Bye(ctx); err != nil {
				t.Fatal(err)
			}
			bye := proxy.wait(ctx, gosip.BYE, 1)
			for _, r := range []*gosip.Request{ack, bye} {
				if r.Transport() != "TCP" {
					t.Errorf("%s reached the proxy over %s, want TCP", r.Method, r.Transport())
				}
				if rt := r.Route(); rt == nil || rt.Address.Port != int(proxy.addr().Port()) {
					t.Errorf("%s's Route %v, want the proxy %s", r.Method, rt, proxy.addr())
				}
			}
			if n := sbc.count(gosip.ACK) + sbc.count(gosip.BYE); n != 0 {
				t.Errorf("the SBC got %d ACK/BYE directly, past the recorded proxy", n)
			}
			waitCalls(t, srv, 0)
		})
	}
}

// TestRouteSetFromThe2xx: the SBC's 183 made the early dialog, and its 200
// record-routes a proxy, alone or instead of the one in the 183: the
// dialog's route set is recomputed from the 200 (RFC 3261 §13.2.2.4), so
// our ACK and BYE go through the 200's proxy, never straight to the SBC
// nor through the 183's.
func TestRouteSetFromThe2xx(t *testing.T) {
	for _, early := range []bool{false, true} {
		t.Run(fmt.Sprintf("record-route in the 183: %v", early), func(t *testing.T) {
			ctx := testCtx(t, 20*time.Second)
			first, proxy := startPeer(t, "first-proxy"), startPeer(t, "proxy")
			sbc := startPeer(t, "sbc")
			sbc.invites(func(pi *peerInvite) {
				var hdrs []gosip.Header
				if early {
					hdrs = append(hdrs, gosip.NewHeader("Record-Route", "<sip:"+first.addr().String()+";lr>"))
				}
				pi.respond(183, fixtureBody(t, "sbc-answer-pcma.sdp"), hdrs...)
				pi.respond(200, fixtureBody(t, "sbc-answer-pcma.sdp"),
					gosip.NewHeader("Record-Route", "<sip:"+proxy.addr().String()+";lr>"))
			})
			srv := serveTo(t, sbc.addr(), "udp", nil)
			caller := startPeer(t, "caller")
			oc := upCall(ctx, t, caller, srv, "udp")
			ack := proxy.wait(ctx, gosip.ACK, 1)
			if err := oc.d.Bye(ctx); err != nil {
				t.Fatal(err)
			}
			bye := proxy.wait(ctx, gosip.BYE, 1)
			for _, r := range []*gosip.Request{ack, bye} {
				if rt := r.Route(); rt == nil || rt.Address.Port != int(proxy.addr().Port()) {
					t.Errorf("%s's Route %v, want the 200's proxy %s", r.Method, rt, proxy.addr())
				}
			}
			if n := sbc.count(gosip.ACK) + sbc.count(gosip.BYE) + first.count(gosip.ACK) + first.count(gosip.BYE); n != 0 {
				t.Errorf("%d ACK/BYE went past the 200's proxy", n)
			}
			waitCalls(t, srv, 0)
		})
	}
}

// TestContactMaddr: an SBC whose 200 names its remote target with an maddr
// parameter (Contact: <sip:sbc@H:P;maddr=SBC>) gets the ACK and the BYE at
// maddr, the URI's port kept (RFC 3261 §19.1.1: maddr overrides the host;
// RFC 3263 §4: "If the URI contains an maddr parameter, the maddr is used
// as the target"). They went to H:P, where nothing answers: the ACK never
// reached the SBC (which retransmits its 200 and, after 64*T1, hangs up),
// and the BYE only after the next-target fallback (r28-sbc F2).
func TestContactMaddr(t *testing.T) {
	ctx := testCtx(t, 20*time.Second)
	sbc := peer66(t, "sbc", 11)
	// H:P is bound and never read: what goes there is lost.
	hole, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr("127.0.66.13"), sbc.addr().Port())))
	if err != nil {
		t.Fatal(err)
	}
	defer hole.Close()
	calls := make(chan *peerInvite, 1)
	sbc.invites(func(pi *peerInvite) {
		res := pi.response(200, fixtureBody(t, "sbc-answer-pcma.sdp"))
		res.RemoveHeader("Contact")
		res.AppendHeader(gosip.NewHeader("Contact", fmt.Sprintf("<sip:sbc@127.0.66.13:%d;maddr=%s>",
			sbc.addr().Port(), sbc.addr().Addr())))
		_ = pi.tx.Respond(res)
		calls <- pi
	})
	srv := serve66(t, sbc.addr(), nil)
	oc := upCall(ctx, t, peer66(t, "caller", 12), srv, "udp")
	pi := <-calls
	ackCtx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if !pi.waitAck(ackCtx) {
		t.Error("the SBC never got the ACK of its 200: it went to the Contact's host, not its maddr")
	}
	start := time.Now()
	if err := oc.d.Bye(ctx); err != nil {
		t.Fatal(err)
	}
	bye := sbc.wait(ctx, gosip.BYE, 1)
	if d := time.Since(start); d > time.Second {
		t.Errorf("the SBC got the BYE %v after the client's: it went to the Contact's host first", d.Round(time.Millisecond))
	}
	if got := bye.Recipient.String(); !strings.Contains(got, "maddr=") {
		t.Errorf("BYE Request-URI %s, want the remote target as the Contact gave it (maddr kept)", got)
	}
}

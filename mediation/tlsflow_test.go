package mediation_test

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/labca"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
)

// TestTLSRouteToAnotherPortOfTheSBC: an SBC answers our INVITE, sent on
// the connection we dialled to the trunk's port, with a Record-Route and
// a Contact naming another port of its IP (a second SIP interface of
// its own). The ACK, a relayed re-INVITE and the BYE go to that port
// (RFC 3261 §12.2.1.1, RFC 3263: host and port), not down the open
// connection to the trunk's port, though it is the same IP (r26-tls F1).
// Without a Record-Route, the Contact's port is where they go too.
func TestTLSRouteToAnotherPortOfTheSBC(t *testing.T) {
	for _, tc := range []struct{ name, rr, contact string }{
		{"sips record-route", "<sips:127.0.0.1:%d;lr>", "<sips:sbc@127.0.0.1:%d>"},
		{"transport=tls record-route", "<sip:127.0.0.1:%d;transport=tls;lr>", "<sip:sbc@127.0.0.1:%d;transport=tls>"},
		{"contact only", "", "<sips:sbc@127.0.0.1:%d>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t, 20*time.Second)
			l := newLab(t, []string{"mediation.lab", "127.0.0.1"}, []string{"sbc.lab", "127.0.0.1"})
			sbc := startPeerTLS(t, "sbc", l.sbcTLS(t))
			other := startPeerTLS(t, "sbc-other-interface", l.sbcTLS(t))
			port := other.stack.TLSAddr().Port()
			sbc.invites(func(pi *peerInvite) {
				res := pi.response(200, fixtureBody(t, "sbc-answer-pcma.sdp"))
				res.RemoveHeader("Contact")
				res.AppendHeader(gosip.NewHeader("Contact", fmt.Sprintf(tc.contact, port)))
				if tc.rr != "" {
					res.AppendHeader(gosip.NewHeader("Record-Route", fmt.Sprintf(tc.rr, port)))
				}
				_ = pi.tx.Respond(res)
			})
			srv := tlsServer(t, l, sbc.stack.TLSAddr(), nil)
			caller := startPeer(t, "caller")
			oc := upCall(ctx, t, caller, srv, "udp")
			other.wait(ctx, gosip.ACK, 1)

			reinv := gosip.NewRequest(gosip.INVITE, oc.final.Contact().Address)
			reinv.AppendHeader(gosip.NewHeader("Content-Type", "application/sdp"))
			reinv.SetBody(fixtureBody(t, "hold-offer.sdp"))
			if res := doIn(ctx, t, oc, reinv); res.StatusCode != 200 {
				t.Fatalf("re-INVITE got %d", res.StatusCode)
			}
			if err := oc.d.WriteRequest(gosip.NewRequest(gosip.ACK, oc.final.Contact().Address)); err != nil {
				t.Fatal(err)
			}
			other.wait(ctx, gosip.INVITE, 1)
			other.wait(ctx, gosip.ACK, 2) // of the relayed re-INVITE's 200
			if err := oc.d.Bye(ctx); err != nil {
				t.Fatal(err)
			}
			bye := other.wait(ctx, gosip.BYE, 1)
			if bye.Transport() != "TLS" {
				t.Errorf("BYE came over %s, want TLS", bye.Transport())
			}
			if sbc.count(gosip.INVITE) != 1 || sbc.count(gosip.ACK)+sbc.count(gosip.BYE) != 0 {
				t.Errorf("the trunk's port got %s: in-dialog requests went down the connection to it", sbc.methods())
			}
			mediationtest.WaitMetric(t, srv, 0, "mediationserver_calls_current", "direction", "outbound")
		})
	}
}

// TestTLSInboundKeepsTheSBCsConnection: an SBC places a call over a TLS
// connection it opened (from an ephemeral port) and record-routes its
// listening port: our BYE goes down its connection all the same, which
// is how an SBC behind NAT is reached (README: connection reuse), not on
// a new connection to its listening port.
func TestTLSInboundKeepsTheSBCsConnection(t *testing.T) {
	ctx := testCtx(t, 20*time.Second)
	l := newLab(t, []string{"mediation.lab", "127.0.0.1"}, []string{"sbc.lab", "127.0.0.1"})
	sbc := startPeerTLS(t, "sbc", l.sbcTLS(t))
	edge := startPeer(t, "edge")
	srv := tlsServer(t, l, sbc.stack.TLSAddr(), func(c *mediation.Config) { c.Edge.Peer = edge.addr().String() })
	oc := sbc.call(ctx, srv.GatewayTLSAddr(), "tls", fixtureBody(t, "sbc-offer-pcma-pcmu.sdp"),
		gosip.NewHeader("Record-Route", fmt.Sprintf("<sips:127.0.0.1:%d;lr>", sbc.stack.TLSAddr().Port())))
	if res := oc.answer(ctx, nil); res.StatusCode != 200 {
		t.Fatalf("inbound call over TLS got %d", res.StatusCode)
	}
	if err := oc.d.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	inv := edge.wait(ctx, gosip.INVITE, 1)
	pi := &peerInvite{p: edge, req: inv, tag: toTag(t, edge, inv)}
	if res := pi.do(ctx, pi.inDialog(gosip.BYE, 2, nil)); res.StatusCode != 200 {
		t.Fatalf("edge BYE got %d", res.StatusCode)
	}
	bye := sbc.wait(ctx, gosip.BYE, 1)
	// On the SBC's own connection, the BYE comes from the address it
	// dialled; on one we dialled, from an ephemeral port of ours.
	if bye.Source() != srv.GatewayTLSAddr().String() {
		t.Errorf("BYE came from %s, not on the SBC's connection to %s", bye.Source(), srv.GatewayTLSAddr())
	}
	waitCalls(t, srv, 0)
}

// TestTLSHandshakeFailuresCounted: handshakes the gateway side's TLS
// listener refuses are counted in
// mediationserver_tls_handshake_failures_total by reason and logged at
// warn with their cause, the message timeout named only when that was it;
// a connection closed before any handshake (a TCP check of the port) is
// counted as other and logged at info (r26-tls F2).
func TestTLSHandshakeFailuresCounted(t *testing.T) {
	l := newLab(t, []string{"mediation.lab", "127.0.0.1"}, []string{"sbc.lab", "127.0.0.1"})
	other := newLab(t, []string{"x.lab"}, []string{"sbc.lab", "127.0.0.1"})
	if err := labca.IssueClient(string(l), []string{"intruder.lab", "127.0.0.1"}, "intruder.pem", "intruder-key.pem"); err != nil {
		t.Fatal(err)
	}
	intruder, err := tls.LoadX509KeyPair(l.file("intruder.pem"), l.file("intruder-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	sbc := startPeerTLS(t, "sbc", l.sbcTLS(t))
	for _, tc := range []struct {
		reason, level string
		try           func(t *testing.T, addr netip.AddrPort)
	}{
		{"no_certificate", "warn", func(t *testing.T, addr netip.AddrPort) { _ = tlsExchange(addr, l.pool(t), nil) }},
		{"bad_certificate", "warn", func(t *testing.T, addr netip.AddrPort) {
			_ = tlsExchange(addr, l.pool(t), []tls.Certificate{other.clientCert(t)})
		}},
		{"not_trunk", "warn", func(t *testing.T, addr netip.AddrPort) {
			_ = tlsExchange(addr, l.pool(t), []tls.Certificate{intruder})
		}},
		{"timeout", "warn", func(t *testing.T, addr netip.AddrPort) {
			// Half a ClientHello, then nothing: closed at the message timeout.
			c, err := net.Dial("tcp", addr.String())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			_, _ = c.Write([]byte{0x16, 0x03, 0x01})
		}},
		{"other", "info", func(t *testing.T, addr netip.AddrPort) {
			c, err := net.Dial("tcp", addr.String())
			if err != nil {
				t.Fatal(err)
			}
			c.Close()
		}},
		// A check that resets the connection (SO_LINGER 0) is as quiet.
		{"other", "info", func(t *testing.T, addr netip.AddrPort) {
			c, err := net.Dial("tcp", addr.String())
			if err != nil {
				t.Fatal(err)
			}
			_ = c.(*net.TCPConn).SetLinger(0)
			c.Close()
		}},
	} {
		t.Run(tc.reason, func(t *testing.T) {
			logs := &syncBuffer{}
			srv := tlsServerLog(t, l, sbc.stack.TLSAddr(), zerolog.New(logs).Level(zerolog.InfoLevel), func(c *mediation.Config) {
				c.SIP.TCP.MessageTimeout = time.Second
			})
			tc.try(t, srv.GatewayTLSAddr())
			mediationtest.WaitMetric(t, srv, 1, "mediationserver_tls_handshake_failures_total", "side", "gateway", "reason", tc.reason)
			deadline := time.Now().Add(10 * time.Second)
			for {
				var line map[string]any
				for _, m := range logs.lines() {
					if m["reason"] == tc.reason && strings.HasPrefix(fmt.Sprint(m["message"]), "TLS handshake") {
						line = m
					}
				}
				if line != nil {
					if line["level"] != tc.level || line["side"] != "gateway" || line["error"] == nil {
						t.Errorf("log line %v, want level %s, side gateway and the error", line, tc.level)
					}
					if _, named := line["message_timeout_ms"]; named != (tc.reason == "timeout") {
						t.Errorf("log line %v: message_timeout_ms named %v, want %v", line, named, tc.reason == "timeout")
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no log line of the %s handshake", tc.reason)
				}
				time.Sleep(10 * time.Millisecond)
			}
			for _, r := range []string{"timeout", "no_certificate", "bad_certificate", "not_trunk", "other"} {
				if r == tc.reason {
					continue
				}
				if v, err := mediationtest.Metric(srv, "mediationserver_tls_handshake_failures_total", "side", "gateway", "reason", r); err != nil || v != 0 {
					t.Errorf("reason %s = %v (%v), want 0", r, v, err)
				}
			}
		})
	}
}

// TestTLSTrunkNeedsTLSListener: our requests to a TLS trunk say TLS in
// Via and Contact, so an SBC that dials our Contact for its requests in
// the call (its BYE, RFC 3261 §12.2.1.1) needs a TLS listener there:
// without tls.gateway_listen that Contact's port is the plain UDP/TCP one,
// where the BYE's handshake fails and the caller is never hung up
// (r28-tls F4). An SBC that sends them back over the connection we opened
// needs none, so such a configuration is valid, with a warning naming both
// keys (serve --validate and the log at start; refusing it broke
// outbound-only TLS trunks, r28-review2 F1). With the listener the SBC's
// BYE reaches us and ends the call on both legs.
func TestTLSTrunkNeedsTLSListener(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	l := newLab(t, []string{"mediation.lab", "127.0.72.1"}, []string{"sbc.lab", "127.0.72.9"})
	sbcTLS := l.sbcTLS(t)
	sbcTLS.Listen = netip.MustParseAddrPort("127.0.72.9:0")
	sbcTLS.Server.ClientAuth = tls.NoClientCert
	sbc := startPeerOn(t, "sbc", netip.MustParseAddrPort("127.0.72.9:0"), sbcTLS)
	answered := make(chan *peerInvite, 1)
	sbc.invites(func(pi *peerInvite) {
		pi.respond(200, fixtureBody(t, "sbc-answer-pcma.sdp"))
		answered <- pi
	})
	configure := func(c *mediation.Config) {
		listenOn(c, "127.0.72.1")
		c.TLS.Mutual = false
	}

	cfg := labConfig(sbc.stack.TLSAddr(), "tls")
	cfg.TLS = mediation.TLSConfig{Cert: l.file(labca.ServerFile), Key: l.file(labca.ServerKeyFile), CA: l.file(labca.CAFile)}
	configure(cfg) // TLS only towards the trunk
	if err := cfg.Validate(); err != nil {
		t.Fatalf("a TLS trunk without tls.gateway_listen: %v, want valid", err)
	}
	if w := cfg.TLSListenerWarnings(); len(w) != 1 || !strings.Contains(w[0], "gateways[0]") || !strings.Contains(w[0], "tls.gateway_listen") {
		t.Fatalf("warnings %q, want one naming gateways[0] and tls.gateway_listen", w)
	}

	srv := tlsServer(t, l, sbc.stack.TLSAddr(), configure)
	caller := startPeerOn(t, "caller", netip.MustParseAddrPort("127.0.72.10:0"), nil)
	upCall(ctx, t, caller, srv, "udp")
	pi := <-answered
	sbc.wait(ctx, gosip.ACK, 1)
	bye := pi.inDialog(gosip.BYE, 1, nil)
	res, err := sbc.stack.Client("TLS").Do(ctx, bye)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("the SBC's BYE to our Contact %v: %v %v", pi.req.Contact().Address.String(), res, err)
	}
	caller.wait(ctx, gosip.BYE, 1)
	waitCalls(t, srv, 0)
}

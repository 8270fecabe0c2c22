package mediation_test

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/labca"
)

// sniRecorder is an SBC's TLS listener noting the SNI of each handshake.
type sniRecorder struct {
	mu    sync.Mutex
	names []string
}

func (r *sniRecorder) record(cfg *tls.Config) {
	cfg.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		r.mu.Lock()
		r.names = append(r.names, hello.ServerName)
		r.mu.Unlock()
		return nil, nil
	}
}

func (r *sniRecorder) seen() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.names)
}

// TestTLSTrunkSNI: the gateway side dials a TLS trunk with the trunk's
// tls_name as SNI, and the SBC's certificate must carry that trunk's name:
// another trunk's name at the same IP does not do.
func TestTLSTrunkSNI(t *testing.T) {
	l := newLab(t, []string{"mediation.lab", "127.0.0.1"}, []string{"sbc.lab", "127.0.0.1"})
	sbcTLS := l.sbcTLS(t)
	var sni sniRecorder
	sni.record(sbcTLS.Server)
	sbc := startPeerTLS(t, "sbc", sbcTLS)
	srv := tlsServer(t, l, sbc.stack.TLSAddr(), nil)

	if code := placeCall(t, srv); code != 200 {
		t.Fatalf("outbound call over TLS got %d", code)
	}
	if got := sni.seen(); len(got) != 1 || got[0] != "sbc.lab" {
		t.Errorf("the SBC saw SNI %q, want one handshake for sbc.lab", got)
	}
	inv := sbc.wait(testCtx(t, 10*time.Second), gosip.INVITE, 1)
	if inv.Transport() != "TLS" {
		t.Errorf("INVITE over %s, want TLS", inv.Transport())
	}
	// A second call reuses the connection: no new handshake.
	if code := placeCall(t, srv); code != 200 {
		t.Fatalf("second call got %d", code)
	}
	if got := sni.seen(); len(got) != 1 {
		t.Errorf("SNI of %d handshakes %q, want the one connection reused", len(got), got)
	}
}

// TestTLSTrunkNameIsTheDialledOnes: the trunk dialled names other.lab,
// which the SBC's certificate lacks; another trunk at the same IP names
// sbc.lab, which it carries. The handshake is refused (the call fails)
// rather than accepted on the other trunk's name.
func TestTLSTrunkNameIsTheDialledOnes(t *testing.T) {
	l := newLab(t, []string{"mediation.lab", "127.0.0.1"}, []string{"sbc.lab", "127.0.0.1"})
	sbcTLS := l.sbcTLS(t)
	var sni sniRecorder
	sni.record(sbcTLS.Server)
	sbc := startPeerTLS(t, "sbc", sbcTLS)
	decoy := startPeerTLS(t, "decoy", l.sbcTLS(t))
	srv := tlsServer(t, l, sbc.stack.TLSAddr(), func(c *mediation.Config) {
		c.Gateways = []mediation.GatewayConfig{
			{Name: "sbc", Address: sbc.stack.TLSAddr().String(), Transport: "tls", TLSName: "other.lab", Numbers: []string{"+1"}},
			{Name: "decoy", Address: decoy.stack.TLSAddr().String(), Transport: "tls", TLSName: "sbc.lab", Numbers: []string{"+44"}},
		}
	})
	if code := placeCall(t, srv); code == 200 {
		t.Fatal("the call went through an SBC whose certificate lacks the trunk's name")
	}
	if got := sni.seen(); len(got) == 0 || got[0] != "other.lab" {
		t.Errorf("the SBC saw SNI %q, want other.lab", got)
	}
	if n := sbc.count(gosip.INVITE); n != 0 {
		t.Errorf("the SBC got %d INVITEs", n)
	}
}

// TestTLSEdgePeerName: the edge side dials its peer over TLS with a name,
// as the gateway side does a trunk: edge.tls_name, else edge.peer's host
// name (as a browser checks the name it was given, not the address that
// name resolved to). That name is sent as SNI and the edge's certificate
// must carry it, so an edge whose certificate names its DNS name only (as
// a real edge's or SfB Online's does: no IP SANs) is reached. Before, the
// peer was dialled by its IP, with no SNI, and every inbound call got 503
// (r28-tls F1). A tls_name the certificate lacks fails the call.
func TestTLSEdgePeerName(t *testing.T) {
	for _, tc := range []struct {
		name, peerHost, tlsName string
		ok                      bool
	}{
		{"edge.peer by host name", "localhost", "", true},
		{"edge.tls_name", "127.0.0.1", "edge.lab", true},
		{"edge.tls_name not on the certificate", "127.0.0.1", "other.lab", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t, 30*time.Second)
			// The edge's certificate names DNS names only, no IP.
			l := newLab(t, []string{"mediation.lab", "127.0.72.1"}, []string{"localhost", "edge.lab"})
			edgeTLS := l.sbcTLS(t)
			var sni sniRecorder
			sni.record(edgeTLS.Server)
			// 127.0.0.1: the one address localhost resolves to on this host.
			edge := startPeerTLS(t, "edge", edgeTLS)
			sbc := startPeerOn(t, "sbc", netip.MustParseAddrPort("127.0.72.2:0"), nil)
			srv := serveTo(t, sbc.addr(), "udp", func(c *mediation.Config) {
				c.TLS = mediation.TLSConfig{Cert: l.file(labca.ServerFile), Key: l.file(labca.ServerKeyFile), CA: l.file(labca.CAFile),
					EdgeListen: "127.0.72.1:0"}
				listenOn(c, "127.0.72.1")
				c.Edge.Peer = net.JoinHostPort(tc.peerHost, fmt.Sprint(edge.stack.TLSAddr().Port()))
				c.Edge.PeerTransport, c.Edge.TLSName = "tls", tc.tlsName
			})
			want := tc.tlsName
			if want == "" {
				want = tc.peerHost
			}
			in := sbc.call(ctx, srv.GatewayAddr(), "udp", fixtureBody(t, "sbc-offer-pcma-pcmu.sdp"))
			res := in.answer(ctx, nil)
			if got := sni.seen(); len(got) == 0 || got[0] != want {
				t.Errorf("the edge saw SNI %q, want %s", got, want)
			}
			if !tc.ok {
				if res.StatusCode == 200 {
					t.Fatalf("the call reached an edge whose certificate lacks %s", want)
				}
				waitCalls(t, srv, 0)
				return
			}
			if res.StatusCode != 200 {
				t.Fatalf("inbound call to edge.peer %s (certificate for localhost, edge.lab) got %d %s", tc.peerHost, res.StatusCode, res.Reason)
			}
			if err := in.d.Ack(ctx); err != nil {
				t.Fatal(err)
			}
			if err := in.d.Bye(ctx); err != nil {
				t.Fatal(err)
			}
			waitCalls(t, srv, 0)
		})
	}
}

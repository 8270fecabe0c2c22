package mediation_test

import (
	"crypto/tls"
	"slices"
	"sync"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/mediation"
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

package sip

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// selfSigned is a certificate for names, and a pool that trusts it.
func selfSigned(t *testing.T, names ...string) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// TestSideDialsTLSWithServerName: with TLSConfig.Dial the side dials a
// TLS peer itself, sending the ServerName Dial gives as SNI and checking
// the certificate against it; sipgo then uses that connection (one
// handshake for several requests). A name the certificate lacks fails the
// request as a transport error.
func TestSideDialsTLSWithServerName(t *testing.T) {
	cert, pool := selfSigned(t, "peer.lab")
	var mu sync.Mutex
	var sni []string
	server := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert},
		GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			mu.Lock()
			sni = append(sni, hello.ServerName)
			mu.Unlock()
			return nil, nil
		}}
	rec := newRecorder()
	rec.answer = func(in *Incoming) { _ = in.Reply(200, "OK", "") }
	peer, err := NewSide(SideConfig{Name: "peer", Listen: netip.MustParseAddrPort("127.0.0.1:0"), UserAgent: "peer", Log: zerolog.Nop(),
		Handler: rec, TLS: &TLSConfig{Listen: netip.MustParseAddrPort("127.0.0.1:0"), Server: server}})
	if err != nil {
		t.Fatal(err)
	}
	if err := peer.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(peer.Close)

	name := "peer.lab"
	var nameMu sync.Mutex
	dial := func(dest netip.AddrPort) *tls.Config {
		if dest != peer.TLSAddr() {
			return nil
		}
		nameMu.Lock()
		defer nameMu.Unlock()
		return &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool, ServerName: name}
	}
	us, err := NewSide(SideConfig{Name: "us", Listen: netip.MustParseAddrPort("127.0.0.1:0"), UserAgent: "us", Log: zerolog.Nop(),
		Handler: newRecorder(), TLS: &TLSConfig{Client: &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool, ServerName: "unused.lab"}, Dial: dial}})
	if err != nil {
		t.Fatal(err)
	}
	if err := us.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(us.Close)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for range 3 {
		res, err := us.Ping(ctx, peer.TLSAddr(), "tls")
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("OPTIONS over TLS: %v, %v", res, err)
		}
	}
	mu.Lock()
	got := slices.Clone(sni)
	mu.Unlock()
	if !slices.Equal(got, []string{"peer.lab"}) {
		t.Errorf("SNI %q, want one handshake for peer.lab", got)
	}

	// A name the peer's certificate lacks: the handshake fails.
	us.Close()
	nameMu.Lock()
	name = "other.lab"
	nameMu.Unlock()
	us2, err := NewSide(SideConfig{Name: "us2", Listen: netip.MustParseAddrPort("127.0.0.1:0"), UserAgent: "us", Log: zerolog.Nop(),
		Handler: newRecorder(), TLS: &TLSConfig{Client: &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}, Dial: dial}})
	if err != nil {
		t.Fatal(err)
	}
	if err := us2.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(us2.Close)
	if _, err := us2.Ping(ctx, peer.TLSAddr(), "tls"); !errors.Is(err, ErrTransport) {
		t.Errorf("OPTIONS to a peer without the name: %v, want a transport error", err)
	}
}

// TestTLSHandshakeTimeout: a peer that starts a TLS handshake and stalls
// (five bytes of a ClientHello) is cut off MessageTimeout after it
// connected, as a slow SIP sender is, not after the idle timeout; a peer
// that completes its handshake meanwhile is served, its handshake not
// queued behind the stalled one.
func TestTLSHandshakeTimeout(t *testing.T) {
	const timeout = 400 * time.Millisecond
	cert, pool := selfSigned(t, "peer.lab")
	rec := newRecorder()
	rec.answer = func(in *Incoming) { _ = in.Reply(200, "OK", "") }
	s, err := NewSide(SideConfig{Name: "peer", Listen: netip.MustParseAddrPort("127.0.0.1:0"), UserAgent: "peer", Log: zerolog.Nop(),
		Handler: rec, Conn: ConnLimits{MessageTimeout: timeout, IdleTimeout: time.Hour},
		TLS: &TLSConfig{Listen: netip.MustParseAddrPort("127.0.0.1:0"), Server: &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	stalled := dialFrom(t, "127.0.0.1", s.TLSAddr())
	start := time.Now()
	if _, err := stalled.conn.Write([]byte{0x16, 0x03, 0x01, 0x02, 0x00}); err != nil {
		t.Fatal(err)
	}
	good, err := tls.Dial("tcp", s.TLSAddr().String(), &tls.Config{RootCAs: pool, ServerName: "peer.lab", MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatalf("a peer that completes its handshake while another stalls: %v", err)
	}
	good.Close()
	stalled.closedByPeer(5*time.Second, "stalled TLS handshake")
	if took := time.Since(start); took < timeout {
		t.Fatalf("stalled handshake cut off after %v, before %v", took, timeout)
	}
	// Counted as the handshake returns, which may be just after the close
	// (HandshakeContext closes the connection when its context ends).
	for deadline := time.Now().Add(5 * time.Second); s.stack.connStats.Slow.Load() != 1; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("slow closes %d, want 1", s.stack.connStats.Slow.Load())
		}
	}
}

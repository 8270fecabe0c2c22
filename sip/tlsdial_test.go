package sip

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"
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

// TestDialledTLSOtherPortStalls: we dialled the peer over TLS; its 200's
// Contact names another port of its IP that takes TCP and never finishes
// a TLS handshake (r26-regr R3). The dialog's first request waits
// fallbackDial there, not the side's whole dial timeout, and goes on the
// open connection; the next goes there at once, that port left alone.
func TestDialledTLSOtherPortStalls(t *testing.T) {
	cert, pool := selfSigned(t, "peer.lab")
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	peer := &resetPeer{t: t, ln: ln}
	// The stalling port: accepts, reads nothing.
	stall, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stall.Close() })
	accepted := make(chan net.Conn, 10)
	go func() {
		for {
			c, err := stall.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	t.Cleanup(func() {
		for {
			select {
			case c := <-accepted:
				c.Close()
			default:
				return
			}
		}
	})
	q := stall.Addr().(*net.TCPAddr).Port

	// A dial timeout the test's deadlines would not wait out.
	s := startSideConfig(t, SideConfig{Name: "test", Listen: netip.MustParseAddrPort("127.0.0.1:0"), UserAgent: "test",
		Log: zerolog.Nop(), Handler: newRecorder(), DialTimeout: time.Minute,
		TLS: &TLSConfig{Client: &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool},
			Dial: func(netip.AddrPort) *tls.Config {
				return &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool, ServerName: "peer.lab"}
			}}})
	inv := s.NewInvite(Invite{Target: peer.addr(), Transport: "tls", RequestUser: "b", FromUser: "a", ToUser: "b", MaxForwards: 70})
	sink := &sinkRec{done: make(chan error, 1)}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sent := make(chan error, 1)
	go func() {
		// The handshake needs the peer's reads (accept).
		tx, err := s.Send(ctx, inv, sink)
		sink.tx = tx
		sent <- err
	}()
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	peer.conn = &raw{t: t, conn: c, rd: bufio.NewReader(c), tr: "tls"}
	if req, ok := peer.conn.read().(*gosip.Request); !ok || !req.IsInvite() {
		t.Fatalf("peer read %v, want the INVITE", req)
	} else {
		peer.inv = req
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	contact := &gosip.ContactHeader{Address: gosip.Uri{Scheme: "sip", Host: "127.0.0.1", Port: q, UriParams: gosip.HeaderParams{{K: "transport", V: "tls"}}}}
	res := gosip.NewResponseFromRequest(peer.inv, 200, "OK", nil)
	res.To().Params.Add("tag", "sbc")
	res.AppendHeader(contact)
	peer.conn.send(res.String())
	waitCode(t, sink, 200)
	r := gosip.NewResponseFromRequest(sink.tx.Req, 200, "OK", nil)
	r.To().Params.Add("tag", "sbc")
	r.AppendHeader(contact)
	r.SetSource(peer.addr().String())
	d := NewUACDialog(s, sink.tx.Req, r)

	// The ACK, as the call sends it before relaying the 200.
	start := time.Now()
	if _, err := d.Ack(ctx, inv.CSeq().SeqNo, nil); err != nil {
		t.Fatalf("ACK not sent: %v", err)
	}
	if took := time.Since(start); took >= fallbackDial+3*time.Second {
		t.Fatalf("ACK took %v, want about fallbackDial (%v)", took, fallbackDial)
	}
	if req, ok := peer.conn.read().(*gosip.Request); !ok || req.Method != gosip.ACK {
		t.Fatalf("peer read %v on its connection, want the ACK", req)
	}
	select {
	case c := <-accepted:
		accepted <- c
	default:
		t.Fatal("the ACK never tried the Contact's port")
	}
	_ = peer.conn.conn.SetDeadline(time.Now().Add(5 * time.Second))
	bye := d.NewRequest(gosip.BYE, 0, nil, nil)
	if _, target, err := d.Send(ctx, bye, Discard); err != nil || !strings.HasPrefix(target, "flow:") {
		t.Fatalf("BYE sent to %s, %v; want the flow", target, err)
	}
	if req, ok := peer.conn.read().(*gosip.Request); !ok || req.Method != gosip.BYE {
		t.Fatalf("peer read %v on its connection, want the BYE", req)
	}
	if n := len(accepted); n != 1 {
		t.Errorf("the Contact's port took %d connections, want the ACK's alone", n)
	}
	// A target refresh to yet another port of the peer's is that port's
	// first: its failure is not known.
	refresh := gosip.NewResponseFromRequest(sink.tx.Req, 200, "OK", nil)
	refresh.AppendHeader(&gosip.ContactHeader{Address: gosip.Uri{Scheme: "sip", Host: "127.0.0.1", Port: q + 1, UriParams: gosip.HeaderParams{{K: "transport", V: "tls"}}}})
	d.Refresh(refresh)
	if got := d.targets(d.NewRequest(gosip.BYE, 0, nil, nil)); len(got) == 0 || !strings.HasPrefix(got[0], "target:") {
		t.Errorf("after a refresh to port %d, targets %v; want that target first", q+1, got)
	}
}

package sip

import (
	"bufio"
	"crypto/tls"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"
)

// replySide is a side with TCP and TLS whose handler only records: the
// test answers. It trusts the peer certificate in roots.
func replySide(t *testing.T, lim ConnLimits, roots *tls.Config) (*Side, *recorder) {
	t.Helper()
	cert, _ := selfSigned(t, "side.lab")
	rec := newRecorder()
	// On 127.0.0.2: a connection it opens shows whether it comes from the
	// side's IP or the system's default (127.0.0.1).
	s, err := NewSide(SideConfig{Name: "test", Listen: netip.MustParseAddrPort("127.0.0.2:0"), UserAgent: "test", Log: zerolog.Nop(),
		Handler: rec, Conn: lim, DialTimeout: 5 * time.Second, TLS: &TLSConfig{Listen: netip.MustParseAddrPort("127.0.0.2:0"),
			Server: &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}, Client: roots}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, rec
}

// inviteThenHangUp connects to s over tr, sends an INVITE whose Via
// sent-by is via, waits until the side has it, closes the connection and
// waits until the side knows. It returns the INVITE as the side got it.
func inviteThenHangUp(t *testing.T, s *Side, rec *recorder, tr, via string) *Incoming {
	t.Helper()
	to := s.Addr()
	if tr == "tls" {
		to = s.TLSAddr()
	}
	var c net.Conn
	var err error
	if tr == "tls" {
		c, err = tls.Dial("tcp", to.String(), &tls.Config{InsecureSkipVerify: true})
	} else {
		c, err = net.Dial("tcp", to.String())
	}
	if err != nil {
		t.Fatal(err)
	}
	p := &raw{t: t, conn: c, rd: bufio.NewReader(c), tr: tr}
	p.send(strings.Replace(request("INVITE", "back", "", 1), "%L", via, 1))
	rec.waitN(t, 1)
	rec.mu.Lock()
	in := rec.in[0]
	rec.mu.Unlock()
	c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for s.ConnectionOpen(in.Req.Source()) {
		if time.Now().After(deadline) {
			t.Fatal("the side never saw the connection close")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return in
}

// listenBack is the peer's listener on its Via port (over TLS with cert);
// back waits for the first connection it accepts (after its handshake,
// which the side's dial waits for).
func listenBack(t *testing.T, tr string, cert tls.Certificate) (port int, back func() *raw) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	if tr == "tls" {
		ln = tls.NewListener(ln, &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}})
	}
	ch := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if tc, ok := c.(*tls.Conn); ok && err == nil {
			err = tc.Handshake()
		}
		if err == nil {
			ch <- c
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port, func() *raw {
		t.Helper()
		var c net.Conn
		select {
		case c = <-ch:
		case <-time.After(5 * time.Second):
			t.Fatal("no connection back to the Via's sent-by port")
		}
		t.Cleanup(func() { c.Close() })
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		return &raw{t: t, conn: c, rd: bufio.NewReader(c), tr: tr}
	}
}

// TestSideRespondsOverNewConnection: RFC 3261 §18.2.2. The caller's
// connection closes after its INVITE; the side's 180 and 200 go over one
// new connection to the source IP and the Via's sent-by port (over TLS
// checked against the sent-by host's name), and the caller's ACK on that
// connection reaches the handler: the call completes.
func TestSideRespondsOverNewConnection(t *testing.T) {
	peerCert, peerRoots := selfSigned(t, "peer.lab")
	for _, tr := range []string{"tcp", "tls"} {
		t.Run(tr, func(t *testing.T) {
			s, rec := replySide(t, ConnLimits{MaxPerIP: 10}, &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: peerRoots})
			port, back := listenBack(t, tr, peerCert)
			in := inviteThenHangUp(t, s, rec, tr, "peer.lab:"+strconv.Itoa(port))
			start := time.Now()
			if err := in.Reply(180, "Ringing", "ours"); err != nil {
				t.Fatalf("180: %v", err)
			}
			if err := in.Reply(200, "OK", "ours"); err != nil {
				t.Fatalf("200: %v", err)
			}
			if took := time.Since(start); took > 5*time.Second {
				t.Fatalf("the responses took %v, longer than the dial timeout", took)
			}
			p := back()
			if from := p.conn.RemoteAddr().(*net.TCPAddr).AddrPort().Addr(); from != s.Addr().Addr() {
				t.Errorf("the connection back comes from %s, not the side's IP %s", from, s.Addr().Addr())
			}
			for _, want := range []int{180, 200} {
				res, ok := p.read().(*gosip.Response)
				if !ok || res.StatusCode != want {
					t.Fatalf("want %d on the new connection, got %v", want, res)
				}
			}
			p.send(strings.Replace(request("ACK", "ack", "ours", 1), "%L", "peer.lab:"+strconv.Itoa(port), 1))
			rec.waitN(t, 2)
			if got := rec.methods(); len(got) != 2 || got[1] != "ACK" {
				t.Fatalf("handler got %v, want the ACK after the INVITE", got)
			}
			if n := s.Stats().DialBacks.Load(); n != 1 {
				t.Errorf("%d connections opened back, want 1", n)
			}
		})
	}
}

// TestSideDialBackWithinLimits: the connection back counts against
// MaxPerIP like an accepted one: with the peer's IP at its cap the
// response is not delivered (and at once), nothing is dialled; a peer that
// does not listen fails the response quickly too.
func TestSideDialBackWithinLimits(t *testing.T) {
	s, rec := replySide(t, ConnLimits{MaxPerIP: 1}, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	in := inviteThenHangUp(t, s, rec, "tcp", "127.0.0.1:"+strconv.Itoa(port))
	// Another connection from the peer's IP takes its one place.
	dialFrom(t, "127.0.0.1", s.Addr()).send(request("OPTIONS", "holds-the-place", "", 1))
	rec.waitN(t, 2)
	refused := s.ConnStats().Refused.Load()
	if err := in.Reply(180, "Ringing", "ours"); err == nil {
		t.Fatal("a response went out beyond the connection limit")
	}
	if got := s.ConnStats().Refused.Load(); got != refused+1 {
		t.Errorf("refused %d, want %d", got, refused+1)
	}
	_ = ln.(*net.TCPListener).SetDeadline(time.Now().Add(200 * time.Millisecond))
	if c, err := ln.Accept(); err == nil {
		c.Close()
		t.Fatal("a connection was dialled beyond the limit")
	}
	// Later responses of the transaction fail at once, without a dial.
	if err := in.Reply(200, "OK", "ours"); err == nil {
		t.Fatal("the 200 went out")
	}
	if n := s.Stats().DialBackFailures.Load(); n != 1 {
		t.Errorf("%d failed dials back, want 1", n)
	}

	// A peer whose Via port has no listener: refused by the kernel, at once.
	s2, rec2 := replySide(t, ConnLimits{}, nil)
	ln.Close()
	in2 := inviteThenHangUp(t, s2, rec2, "tcp", "127.0.0.1:"+strconv.Itoa(port))
	start := time.Now()
	if err := in2.Reply(180, "Ringing", "ours"); err == nil {
		t.Fatalf("180 to nowhere: %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("the failed dial took %v", took)
	}
}

// TestSideDialBackSharesLimitsWithTLS: a connection back over TCP counts
// against the side's limits, which its TLS listener's connections fill
// too: with the peer's one place held over TLS, the TCP response is not
// dialled (r25-tcp F1: each listener had counts of its own).
func TestSideDialBackSharesLimitsWithTLS(t *testing.T) {
	s, rec := replySide(t, ConnLimits{MaxPerIP: 1}, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	in := inviteThenHangUp(t, s, rec, "tcp", "127.0.0.1:"+strconv.Itoa(port))
	tlsFrom(t, "127.0.0.1", s.TLSAddr()).send(request("OPTIONS", "holds-the-place", "", 1))
	rec.waitN(t, 2)
	refused := s.ConnStats().Refused.Load()
	if err := in.Reply(180, "Ringing", "ours"); err == nil {
		t.Fatal("a response went out over TCP beyond the place the peer holds over TLS")
	}
	if got := s.ConnStats().Refused.Load(); got != refused+1 {
		t.Errorf("refused %d, want %d", got, refused+1)
	}
	_ = ln.(*net.TCPListener).SetDeadline(time.Now().Add(200 * time.Millisecond))
	if c, err := ln.Accept(); err == nil {
		c.Close()
		t.Fatal("a connection was dialled beyond the limit")
	}
}

// TestSideWriteResponseDialsBack: a response written outside any
// transaction (a 2xx sent again after its INVITE transaction ended, a
// stateless 400) follows RFC 3261 §18.2.2 as a transaction's do: when the
// request's connection has closed, it goes over a new connection to the
// source IP and the Via's sent-by port.
func TestSideWriteResponseDialsBack(t *testing.T) {
	for _, tr := range []string{"tcp", "tls"} {
		t.Run(tr, func(t *testing.T) {
			peerCert, peerRoots := selfSigned(t, "peer.lab")
			s, rec := replySide(t, ConnLimits{MaxPerIP: 10}, &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: peerRoots})
			port, back := listenBack(t, tr, peerCert)
			in := inviteThenHangUp(t, s, rec, tr, "peer.lab:"+strconv.Itoa(port))
			if err := s.WriteResponse(in.Response(200, "OK", "ours", nil)); err != nil {
				t.Fatalf("2xx outside its transaction: %v", err)
			}
			p := back()
			if res, ok := p.read().(*gosip.Response); !ok || res.StatusCode != 200 {
				t.Fatalf("want the 200 on the new connection, got %v", res)
			}
			// Again, once more: on the connection now open, no new dial.
			if err := s.WriteResponse(in.Response(200, "OK", "ours", nil)); err != nil {
				t.Fatalf("2xx again: %v", err)
			}
			if res, ok := p.read().(*gosip.Response); !ok || res.StatusCode != 200 {
				t.Fatalf("want the 200 again, got %v", res)
			}
			if n := s.Stats().DialBacks.Load(); n != 1 {
				t.Errorf("%d connections opened back, want 1", n)
			}
		})
	}
}

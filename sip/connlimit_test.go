package sip

import (
	"bufio"
	"crypto/tls"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"
)

// startLimitedSide is a side under lim whose handler answers every
// request 200.
func startLimitedSide(t *testing.T, lim ConnLimits) *Side {
	t.Helper()
	rec := newRecorder()
	rec.answer = func(in *Incoming) { _ = in.Reply(200, "OK", "") }
	return startSideWith(t, rec, lim)
}

// dialFrom is a raw TCP peer of s on a given loopback IP (any of
// 127.0.0.0/8 plays another host).
func dialFrom(t *testing.T, ip string, to netip.AddrPort) *raw {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", to.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return &raw{t: t, conn: c, rd: bufio.NewReader(c), tr: "tcp"}
}

// options sends an OPTIONS and wants its 200.
func (r *raw) options(branch string) {
	r.t.Helper()
	r.send(request("OPTIONS", branch, "", 1))
	if res, ok := r.read().(*gosip.Response); !ok || res.StatusCode != 200 {
		r.t.Fatalf("OPTIONS on %s: got %v", r.conn.LocalAddr(), res)
	}
}

// closedByPeer waits until the server closes the connection: a read
// returns EOF or a reset (anything but a timeout).
func (r *raw) closedByPeer(within time.Duration, what string) {
	r.t.Helper()
	_ = r.conn.SetReadDeadline(time.Now().Add(within))
	buf := make([]byte, 512)
	for {
		_, err := r.rd.Read(buf)
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			r.t.Fatalf("%s: connection still open after %v", what, within)
		}
		return // io.EOF, or a reset
	}
}

// TestConnLimitsPerIP: beyond MaxPerIP an IP's next connection is closed at
// once while another IP still gets in, the admitted ones are served, and a
// closed connection gives its place back.
func TestConnLimitsPerIP(t *testing.T) {
	s := startLimitedSide(t, ConnLimits{MaxPerIP: 2})
	a1, a2 := dialFrom(t, "127.0.0.1", s.Addr()), dialFrom(t, "127.0.0.1", s.Addr())
	a1.options("a1")
	a2.options("a2")
	dialFrom(t, "127.0.0.1", s.Addr()).closedByPeer(5*time.Second, "third connection from one IP")
	if got := s.ConnStats().Refused.Load(); got != 1 {
		t.Fatalf("refused %d, want 1", got)
	}
	dialFrom(t, "127.0.0.2", s.Addr()).options("other-ip")
	a1.options("a1-again")

	a2.conn.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c := dialFrom(t, "127.0.0.1", s.Addr())
		c.send(request("OPTIONS", "retry", "", 1))
		_ = c.conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		if _, err := c.rd.Peek(1); err == nil {
			return // served: the closed connection's place was given back
		}
		c.conn.Close()
		if time.Now().After(deadline) {
			t.Fatal("the place of a closed connection was never given back")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestConnLimitsMax: the side's total cap holds whatever the IPs.
func TestConnLimitsMax(t *testing.T) {
	s := startLimitedSide(t, ConnLimits{Max: 2})
	dialFrom(t, "127.0.0.1", s.Addr()).options("one")
	dialFrom(t, "127.0.0.2", s.Addr()).options("two")
	dialFrom(t, "127.0.0.3", s.Addr()).closedByPeer(5*time.Second, "connection beyond the side's cap")
	if got := s.ConnStats().Refused.Load(); got != 1 {
		t.Fatalf("refused %d, want 1", got)
	}
}

// TestConnIdleTimeout: an accepted connection that says nothing is closed
// after IdleTimeout; one that keeps talking is not.
func TestConnIdleTimeout(t *testing.T) {
	const idle = 400 * time.Millisecond
	s := startLimitedSide(t, ConnLimits{IdleTimeout: idle})
	silent := dialFrom(t, "127.0.0.1", s.Addr())
	busy := dialFrom(t, "127.0.0.1", s.Addr())
	start := time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		silent.closedByPeer(5*time.Second, "silent connection")
	}()
	for i := 0; ; i++ {
		select {
		case <-done:
		case <-time.After(idle / 4):
			busy.options("busy" + string(rune('a'+i%26)))
			continue
		}
		break
	}
	if took := time.Since(start); took < idle {
		t.Fatalf("silent connection closed after %v, before the idle timeout %v", took, idle)
	}
	busy.options("still-open")
	if got := s.ConnStats().Idle.Load(); got != 1 {
		t.Fatalf("idle closes %d, want 1", got)
	}
}

// TestConnMessageTimeout: a sender of one byte every 50 ms, and one that
// stops in the middle of a message, are cut off MessageTimeout after their
// message began, though neither is ever idle for long.
func TestConnMessageTimeout(t *testing.T) {
	const timeout = 400 * time.Millisecond
	s := startLimitedSide(t, ConnLimits{MessageTimeout: timeout, IdleTimeout: time.Minute})
	slow := dialFrom(t, "127.0.0.1", s.Addr())
	msg := expandRaw(slow, request("OPTIONS", "slow", "", 1))
	start := time.Now()
	for i := 0; i < len(msg); i++ {
		if _, err := slow.conn.Write([]byte{msg[i]}); err != nil {
			break // closed under us: expected
		}
		time.Sleep(50 * time.Millisecond)
		if time.Since(start) > 10*time.Second {
			t.Fatal("a slow sender was never cut off")
		}
	}
	slow.closedByPeer(5*time.Second, "slow sender")
	if took := time.Since(start); took < timeout {
		t.Fatalf("slow sender cut off after %v, before %v", took, timeout)
	}

	stalled := dialFrom(t, "127.0.0.1", s.Addr())
	half := expandRaw(stalled, request("OPTIONS", "stalled", "", 1))
	if _, err := stalled.conn.Write([]byte(half[:len(half)/2])); err != nil {
		t.Fatal(err)
	}
	stalled.closedByPeer(5*time.Second, "sender stalled mid-message")
	if got := s.ConnStats().Slow.Load(); got != 2 {
		t.Fatalf("slow closes %d, want 2", got)
	}
	dialFrom(t, "127.0.0.1", s.Addr()).options("after")
}

// expandRaw fills a request template's %L and %T for r's connection.
func expandRaw(r *raw, msg string) string {
	return strings.NewReplacer("%L", r.conn.LocalAddr().String(), "%T", "TCP").Replace(msg)
}

// startTrustingSide is a side trusting only 127.0.0.1, under lim, whose
// handler answers every request 200; rejectTCP answers untrusted TCP
// requests 403 instead of dropping them.
func startTrustingSide(t *testing.T, lim ConnLimits, rejectTCP bool) *Side {
	t.Helper()
	rec := newRecorder()
	rec.answer = func(in *Incoming) { _ = in.Reply(200, "OK", "") }
	trust := NewTrust([]netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")})
	trust.RejectTCP = rejectTCP
	return startSideConfig(t, SideConfig{Name: "test", Listen: netip.MustParseAddrPort("127.0.0.1:0"), UserAgent: "test",
		Log: zerolog.Nop(), Handler: rec, Conn: lim, Trust: trust})
}

// held is the number of connections s's limits count in, and how
// many of them come from untrusted sources.
func held(s *Side) (all, untrusted int) {
	l := s.stack.limits
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns), l.untrusted
}

// TestUntrustedConnsLeaveRoom: silent connections from ten untrusted IPs,
// as many as the per-IP cap lets each open, cannot fill the side: they
// hold at most MaxUntrusted places, the trusted SBC's new connection is
// served, strangers' silent connections are closed after
// UntrustedIdleTimeout, and the trusted one, idle for longer, is not.
func TestUntrustedConnsLeaveRoom(t *testing.T) {
	const perIP, strangers, untrustedIdle = 3, 10, 300 * time.Millisecond
	s := startTrustingSide(t, ConnLimits{MaxPerIP: perIP, Max: 12, MaxUntrusted: 6,
		IdleTimeout: time.Minute, UntrustedIdleTimeout: untrustedIdle}, true)
	var silent []*raw
	for i := 0; i < strangers; i++ {
		for j := 0; j < perIP; j++ {
			silent = append(silent, dialFrom(t, "127.0.0."+strconv.Itoa(2+i), s.Addr()))
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		all, untrusted := held(s)
		if all+int(s.ConnStats().Refused.Load()) == len(silent) {
			if untrusted > 6 || all != untrusted {
				t.Fatalf("strangers hold %d places (%d untrusted), want at most 6", all, untrusted)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("accepted %d and refused %d of %d connections", all, s.ConnStats().Refused.Load(), len(silent))
		}
		time.Sleep(10 * time.Millisecond)
	}
	sbc := dialFrom(t, "127.0.0.1", s.Addr())
	sbc.options("sbc-while-strangers-hold")

	// The strangers' connections go after UntrustedIdleTimeout; the
	// SBC's, silent meanwhile, stays.
	for _, c := range silent {
		c.closedByPeer(10*time.Second, "a stranger's silent connection")
	}
	deadline = time.Now().Add(10 * time.Second)
	for _, untrusted := held(s); untrusted != 0; _, untrusted = held(s) {
		if time.Now().After(deadline) {
			t.Fatalf("%d untrusted connections still counted", untrusted)
		}
		time.Sleep(10 * time.Millisecond)
	}
	sbc.options("sbc-after-idle")
	if got := s.ConnStats().Idle.Load(); got == 0 {
		t.Fatal("no idle close counted")
	}
}

// TestUntrustedConnsDropped: when the side drops untrusted TCP requests,
// an untrusted source's connection is closed at accept and counted, and
// a trusted peer's is served.
func TestUntrustedConnsDropped(t *testing.T) {
	s := startTrustingSide(t, ConnLimits{MaxPerIP: 10, Max: 20}, false)
	dialFrom(t, "127.0.0.2", s.Addr()).closedByPeer(5*time.Second, "an untrusted source's connection")
	if got := s.ConnStats().Untrusted.Load(); got != 1 {
		t.Fatalf("untrusted closes %d, want 1", got)
	}
	dialFrom(t, "127.0.0.1", s.Addr()).options("trusted")
	if all, _ := held(s); all != 1 {
		t.Fatalf("%d connections held, want the trusted one", all)
	}
}

// TestUntrustedConnPromoted: a connection accepted while its source was
// not trusted (a trunk's host name not resolved yet, or moved to it) is a
// trusted peer's once the trust list takes its address: it is not closed
// after UntrustedIdleTimeout, and it leaves the strangers' share.
func TestUntrustedConnPromoted(t *testing.T) {
	const untrustedIdle = 200 * time.Millisecond
	s := startTrustingSide(t, ConnLimits{MaxPerIP: 5, Max: 10, MaxUntrusted: 2,
		IdleTimeout: time.Minute, UntrustedIdleTimeout: untrustedIdle}, true)
	early := dialFrom(t, "127.0.0.2", s.Addr())
	deadline := time.Now().Add(5 * time.Second)
	for _, untrusted := held(s); untrusted != 1; _, untrusted = held(s) {
		if time.Now().After(deadline) {
			t.Fatal("the connection was not counted as untrusted")
		}
		time.Sleep(5 * time.Millisecond)
	}
	s.trust.Pin(netip.MustParseAddr("127.0.0.2")) // its trunk's name now resolves to it
	deadline = time.Now().Add(5 * time.Second)
	for _, untrusted := held(s); untrusted != 0; _, untrusted = held(s) {
		if time.Now().After(deadline) {
			t.Fatal("the connection is still counted as untrusted")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// A stranger's connection opened after it goes after the untrusted
	// idle timeout; the promoted one, silent longer, is still served.
	dialFrom(t, "127.0.0.3", s.Addr()).closedByPeer(10*time.Second, "a stranger's silent connection")
	early.options("promoted")
	if got := s.ConnStats().Idle.Load(); got != 1 {
		t.Fatalf("%d idle closes, want the stranger's only", got)
	}
}

// TestUntrustedConnPromotedWithoutTimeouts: with no idle timeouts at all,
// only a share for strangers, a connection whose source becomes trusted
// still leaves that share (the janitor runs for promotions alone).
func TestUntrustedConnPromotedWithoutTimeouts(t *testing.T) {
	s := startTrustingSide(t, ConnLimits{MaxPerIP: 5, Max: 10, MaxUntrusted: 2}, true)
	c := dialFrom(t, "127.0.0.2", s.Addr())
	deadline := time.Now().Add(5 * time.Second)
	for _, untrusted := held(s); untrusted != 1; _, untrusted = held(s) {
		if time.Now().After(deadline) {
			t.Fatal("the connection was not counted as untrusted")
		}
		time.Sleep(5 * time.Millisecond)
	}
	s.trust.Pin(netip.MustParseAddr("127.0.0.2"))
	deadline = time.Now().Add(10 * time.Second)
	for _, untrusted := held(s); untrusted != 0; _, untrusted = held(s) {
		if time.Now().After(deadline) {
			t.Fatal("the connection is still counted as untrusted")
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.options("promoted")
}

// tlsFrom is a TLS peer of s's TLS listener on a given loopback IP, its
// handshake done.
func tlsFrom(t *testing.T, ip string, to netip.AddrPort) *raw {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", to.String(), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return &raw{t: t, conn: c, rd: bufio.NewReader(c), tr: "tls"}
}

// TestConnLimitsSharedByTCPAndTLS: the limits are the side's, not each
// listener's (r25-tcp F1): an IP holding MaxPerIP connections over TCP
// gets none more over TLS, and TCP and TLS connections together fill Max.
// The refused TLS connection is a raw one to the TLS port: the side
// closes it at accept, before any handshake (over its own limits it would
// wait for a ClientHello for ever).
func TestConnLimitsSharedByTCPAndTLS(t *testing.T) {
	t.Run("per IP", func(t *testing.T) {
		s := startStreamSide(t, ConnLimits{MaxPerIP: 2})
		a1, a2 := dialFrom(t, "127.0.1.1", s.Addr()), dialFrom(t, "127.0.1.1", s.Addr())
		a1.options("a1")
		a2.options("a2")
		dialFrom(t, "127.0.1.1", s.TLSAddr()).closedByPeer(5*time.Second, "a TLS connection from an IP at its cap over TCP")
		if got := s.ConnStats().Refused.Load(); got != 1 {
			t.Fatalf("refused %d, want 1", got)
		}
		tlsFrom(t, "127.0.1.2", s.TLSAddr()).options("other-ip")

		// A TCP connection's place, given back, is there for TLS.
		a2.conn.Close()
		deadline := time.Now().Add(5 * time.Second)
		for {
			c := dialFrom(t, "127.0.1.1", s.TLSAddr())
			tc := tls.Client(c.conn, &tls.Config{InsecureSkipVerify: true})
			_ = tc.SetDeadline(time.Now().Add(500 * time.Millisecond))
			if tc.Handshake() == nil {
				(&raw{t: t, conn: tc, rd: bufio.NewReader(tc), tr: "tls"}).options("tls-after-close")
				break
			}
			c.conn.Close()
			if time.Now().After(deadline) {
				t.Fatal("the place of a closed TCP connection was never given to TLS")
			}
			time.Sleep(20 * time.Millisecond)
		}
		// And TLS's places count against TCP.
		dialFrom(t, "127.0.1.1", s.Addr()).closedByPeer(5*time.Second, "a TCP connection from an IP at its cap with TLS")
	})
	t.Run("max", func(t *testing.T) {
		s := startStreamSide(t, ConnLimits{Max: 2})
		dialFrom(t, "127.0.1.3", s.Addr()).options("tcp")
		tlsFrom(t, "127.0.1.4", s.TLSAddr()).options("tls")
		dialFrom(t, "127.0.1.5", s.TLSAddr()).closedByPeer(5*time.Second, "a TLS connection beyond the side's cap")
		dialFrom(t, "127.0.1.6", s.Addr()).closedByPeer(5*time.Second, "a TCP connection beyond the side's cap")
		if got := s.ConnStats().Refused.Load(); got != 2 {
			t.Fatalf("refused %d, want 2", got)
		}
	})
}

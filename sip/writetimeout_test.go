package sip

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/netip"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// TestWriteTimeoutUnderSteadyTraffic: the same stalled peer as
// TestWriteTimeoutClosesStalledConnection, but the writes come from several
// goroutines (one per call, as the server's calls do), a new one every
// 100 ms, with a write timeout of 500 ms: a write still fails, and the
// connection is closed, once the buffers are full. Each new writer used to
// set the connection's (shared) write deadline before it queued behind
// the blocked write, so that deadline moved on and never fired
// (r27-review3 F1): the writes now go one at a time, each setting the
// deadline once it has the connection.
func TestWriteTimeoutUnderSteadyTraffic(t *testing.T) {
	peer, _ := stalledPeer(t)
	s := startSideConfig(t, SideConfig{Name: "test", Listen: netip.MustParseAddrPort("127.0.0.1:0"), UserAgent: "test",
		Log: zerolog.Nop(), Handler: newRecorder(), Conn: ConnLimits{WriteTimeout: 500 * time.Millisecond}})
	body := bytes.Repeat([]byte("a"), 200000)
	var ok, failed atomic.Int64
	firstFail := make(chan time.Time, 1)
	send := func() {
		inv := s.NewInvite(Invite{Target: peer, Transport: "tcp", RequestUser: "b", FromUser: "a", ToUser: "b", MaxForwards: 70})
		inv.SetBody(body)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		tx, err := s.Send(ctx, inv, Discard)
		if err != nil {
			if errors.Is(err, ErrTransport) {
				select {
				case firstFail <- time.Now():
				default:
				}
			}
			failed.Add(1)
			return
		}
		ok.Add(1)
		tx.Terminate()
	}
	// Steady traffic: a new writer every 100 ms for 8 s (the buffers, ~2.5 MB, are full after ~1.3 s).
	start := time.Now()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for time.Since(start) < 8*time.Second {
		<-tick.C
		go send()
		select {
		case at := <-firstFail:
			t.Logf("a write failed as a transport error %v after steady traffic began (ok %d)", at.Sub(start), ok.Load())
			return
		default:
		}
	}
	t.Errorf("with a new writer every 100 ms, no write to a peer that reads nothing failed within 8 s (write_timeout 500ms); write_timeouts=%d ok=%d failed=%d",
		s.stack.connStats.WriteTimeouts.Load(), ok.Load(), failed.Load())
	// Control: no new writer from now on; the blocked write's deadline is
	// left alone and fires.
	stop := time.Now()
	select {
	case at := <-firstFail:
		t.Logf("once no new writer came, a write failed %v later (write_timeouts=%d)", at.Sub(stop), s.stack.connStats.WriteTimeouts.Load())
	case <-time.After(5 * time.Second):
		t.Logf("control: still no failure 5 s after the last writer")
	}
}

// stalledPeer is a TCP peer that takes connections and never reads them
// (a hung SBC whose kernel keeps them, its window at zero): its address,
// and the connections it took, which the test's end closes.
func stalledPeer(t *testing.T) (netip.AddrPort, chan net.Conn) {
	t.Helper()
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) {
			_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 2048)
		})
	}}
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	held := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held <- c // never read
		}
	}()
	t.Cleanup(func() { closeQueued(held) })
	return netip.MustParseAddrPort(ln.Addr().String()), held
}

// closeQueued closes the connections waiting in ch.
func closeQueued(ch chan net.Conn) {
	for {
		select {
		case c := <-ch:
			c.Close()
		default:
			return
		}
	}
}

// floodStalled sends s's INVITEs with 60 kB bodies to target, a stalled
// peer, until one fails (24 MB at most: far more than the socket buffers
// hold), and fails the test unless that is a transport error within 20 s
// and one write timeout is counted.
func floodStalled(t *testing.T, s *Side, target netip.AddrPort, transport string) {
	t.Helper()
	body := bytes.Repeat([]byte("a"), 60000)
	failed := make(chan error, 1)
	go func() {
		for range 400 {
			inv := s.NewInvite(Invite{Target: target, Transport: transport, RequestUser: "b", FromUser: "a", ToUser: "b", MaxForwards: 70})
			inv.SetBody(body)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			tx, err := s.Send(ctx, inv, Discard)
			cancel()
			if err != nil {
				failed <- err
				return
			}
			tx.Terminate()
		}
		failed <- nil
	}()
	select {
	case err := <-failed:
		if !errors.Is(err, ErrTransport) {
			t.Fatalf("a write over %s to a peer that reads nothing ended with %v, want a transport error", transport, err)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("a write over %s to a peer that reads nothing still blocks after 20 s", transport)
	}
	if n := s.stack.connStats.WriteTimeouts.Load(); n != 1 {
		t.Errorf("write timeouts counted %d, want 1", n)
	}
}

// TestWriteTimeoutClosesStalledTLSConnection: as
// TestWriteTimeoutClosesStalledConnection over TLS (README: "any TCP or TLS
// connection"): the peer completes its handshake, then reads nothing; a
// write to it fails as a transport error within WriteTimeout once the
// buffers are full, and the connection is closed and counted.
func TestWriteTimeoutClosesStalledTLSConnection(t *testing.T) {
	cert, pool := selfSigned(t, "peer.lab")
	raw, held := stalledPeer(t)
	// The stalled peer's connections, handshaken as TLS before they stall.
	stalled := make(chan net.Conn, 4)
	go func() {
		for c := range held {
			tc := tls.Server(c, &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}})
			_ = tc.Handshake()
			stalled <- c // never read again
		}
	}()
	t.Cleanup(func() { closeQueued(stalled) })
	s := startSideConfig(t, SideConfig{Name: "test", Listen: netip.MustParseAddrPort("127.0.0.1:0"), UserAgent: "test",
		Log: zerolog.Nop(), Handler: newRecorder(), Conn: ConnLimits{WriteTimeout: 200 * time.Millisecond},
		TLS: &TLSConfig{Client: &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool},
			Dial: func(netip.AddrPort) *tls.Config {
				return &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool, ServerName: "peer.lab"}
			}}})
	floodStalled(t, s, raw, "tls")
}

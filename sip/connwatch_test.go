package sip

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"
)

// resetPeer is a raw TCP SBC: it accepts the side's connection and reads
// our INVITE on it.
type resetPeer struct {
	t    *testing.T
	ln   net.Listener
	conn *raw
	inv  *gosip.Request
}

func listenResetPeer(t *testing.T) *resetPeer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return &resetPeer{t: t, ln: ln}
}

func (p *resetPeer) addr() netip.AddrPort { return netip.MustParseAddrPort(p.ln.Addr().String()) }

// accept takes the side's connection and reads the INVITE on it.
func (p *resetPeer) accept() {
	p.t.Helper()
	_ = p.ln.(*net.TCPListener).SetDeadline(time.Now().Add(5 * time.Second))
	c, err := p.ln.Accept()
	if err != nil {
		p.t.Fatal(err)
	}
	p.t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	p.conn = &raw{t: p.t, conn: c, rd: bufio.NewReader(c), tr: "tcp"}
	req, ok := p.conn.read().(*gosip.Request)
	if !ok || !req.IsInvite() {
		p.t.Fatalf("peer read %v, want the INVITE", req)
	}
	p.inv = req
}

// respond writes a response to the INVITE on w.
func (p *resetPeer) respond(w *raw, code int, reason string) {
	p.t.Helper()
	res := gosip.NewResponseFromRequest(p.inv, code, reason, nil)
	if code > 100 {
		res.To().Params.Add("tag", "sbc")
	}
	w.send(res.String())
}

// reset drops the connection with a TCP RST (SO_LINGER 0), as an SBC that
// lost the call does.
func (p *resetPeer) reset() {
	p.t.Helper()
	if err := p.conn.conn.(*net.TCPConn).SetLinger(0); err != nil {
		p.t.Fatal(err)
	}
	p.conn.conn.Close()
}

// sendInvite sends an INVITE over TCP to to; the sink keeps its
// transaction.
func sendInvite(t *testing.T, s *Side, to netip.AddrPort) *sinkRec {
	t.Helper()
	inv := s.NewInvite(Invite{Target: to, Transport: "tcp", RequestUser: "b", FromUser: "a", ToUser: "b", MaxForwards: 70})
	sink := &sinkRec{done: make(chan error, 1)}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	tx, err := s.Send(ctx, inv, sink)
	if err != nil {
		t.Fatal(err)
	}
	sink.tx = tx
	return sink
}

// waitCode waits until the sink has had a response with code.
func waitCode(t *testing.T, sink *sinkRec, code int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !slices.Contains(sinkCodes(sink), code) {
		if time.Now().After(deadline) {
			t.Fatalf("sink got %v, no %d within 5 s", sinkCodes(sink), code)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestInviteFailsWhenConnectionReset: an INVITE whose TCP connection the
// peer resets before a final response ends at once with ErrTransport (a
// transport failure, which fails the call over), before any response and
// after a 100 Trying alike: nothing can come back on that connection. It
// used to wait for Timer B (32 s), or for ever after the 100.
func TestInviteFailsWhenConnectionReset(t *testing.T) {
	for _, trying := range []bool{false, true} {
		name := "before any response"
		if trying {
			name = "after 100 Trying"
		}
		t.Run(name, func(t *testing.T) {
			peer := listenResetPeer(t)
			s := startSide(t, newRecorder())
			sink := sendInvite(t, s, peer.addr())
			peer.accept()
			if trying {
				peer.respond(peer.conn, 100, "Trying")
				waitCode(t, sink, 100)
			}
			start := time.Now()
			peer.reset()
			select {
			case err := <-sink.done:
				if !errors.Is(err, ErrTransport) {
					t.Fatalf("transaction ended with %v, want ErrTransport", err)
				}
				t.Logf("ended after %v: %v", time.Since(start), err)
			case <-time.After(5 * time.Second):
				t.Fatal("transaction still pending 5 s after its connection was reset")
			}
		})
	}
}

// TestInviteOutlivesOrderlyCloseWhileRinging: the peer's orderly close
// (FIN) of the INVITE's connection fails the INVITE at once before any
// response, as a reset does, but not once a provisional came: a peer or a
// firewall closing an idle connection during a long ring answers over a
// new connection to our Via (RFC 3261 §18.2.2), and its final response
// still ends the transaction (r25-reviewA #3).
func TestInviteOutlivesOrderlyCloseWhileRinging(t *testing.T) {
	t.Run("before any response", func(t *testing.T) {
		peer := listenResetPeer(t)
		s := startSide(t, newRecorder())
		sink := sendInvite(t, s, peer.addr())
		peer.accept()
		peer.conn.conn.Close()
		select {
		case err := <-sink.done:
			if !errors.Is(err, ErrTransport) {
				t.Fatalf("transaction ended with %v, want ErrTransport", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("transaction still pending 5 s after its connection was closed")
		}
	})
	t.Run("after 180 Ringing", func(t *testing.T) {
		peer := listenResetPeer(t)
		s := startSide(t, newRecorder())
		sink := sendInvite(t, s, peer.addr())
		peer.accept()
		peer.respond(peer.conn, 180, "Ringing")
		waitCode(t, sink, 180)
		peer.conn.conn.Close()
		deadline := time.Now().Add(5 * time.Second)
		for s.ConnectionOpen(peer.addr().String()) {
			if time.Now().After(deadline) {
				t.Fatal("closed connection still pooled after 5 s")
			}
			time.Sleep(time.Millisecond)
		}
		select {
		case err := <-sink.done:
			t.Fatalf("transaction ended with %v after an orderly close while ringing", err)
		default:
		}
		other := dialRaw(t, "tcp", s.Addr())
		peer.respond(other, 486, "Busy Here")
		waitCode(t, sink, 486)
	})
}

// TestInviteFailsWhenUnreadableAfterRinging: a connection we close
// because the peer's stream cannot be read as SIP (a 200 with two
// Content-Length values, after a 180) is no orderly close: the INVITE on
// it fails at once, as before the orderly-close rule (r25-reviewC #4).
func TestInviteFailsWhenUnreadableAfterRinging(t *testing.T) {
	peer := listenResetPeer(t)
	s := startSide(t, newRecorder())
	sink := sendInvite(t, s, peer.addr())
	peer.accept()
	peer.respond(peer.conn, 180, "Ringing")
	waitCode(t, sink, 180)
	res := gosip.NewResponseFromRequest(peer.inv, 200, "OK", nil)
	res.To().Params.Add("tag", "sbc")
	peer.conn.send(strings.Replace(res.String(), "Content-Length: 0", "Content-Length: 0\r\nContent-Length: 5", 1))
	select {
	case err := <-sink.done:
		if !errors.Is(err, ErrTransport) {
			t.Fatalf("transaction ended with %v, want ErrTransport", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("transaction still pending 5 s after its connection was closed as unreadable (got %v)", sinkCodes(sink))
	}
}

// TestInviteClosedWhileRingingWaitsBounded: after an orderly close while
// ringing, the INVITE waits ClosedWait for a response over another
// connection (an SBC process that dies closes its connections in order
// too), then fails as a transport error.
func TestInviteClosedWhileRingingWaitsBounded(t *testing.T) {
	peer := listenResetPeer(t)
	const wait = 300 * time.Millisecond
	s := startSideConfig(t, SideConfig{Name: "test", Listen: netip.MustParseAddrPort("127.0.0.1:0"), UserAgent: "test",
		Log: zerolog.Nop(), Handler: newRecorder(), ClosedWait: wait})
	sink := sendInvite(t, s, peer.addr())
	peer.accept()
	peer.respond(peer.conn, 180, "Ringing")
	waitCode(t, sink, 180)
	closed := time.Now()
	peer.conn.conn.Close()
	select {
	case err := <-sink.done:
		if !errors.Is(err, ErrTransport) {
			t.Fatalf("transaction ended with %v, want ErrTransport", err)
		}
		if d := time.Since(closed); d < wait {
			t.Errorf("transaction ended %v after the close, before ClosedWait (%v)", d, wait)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("transaction still pending 10 s after an orderly close while ringing")
	}
	// The peer may still ring the called party: it gets a CANCEL of the
	// INVITE, over a new connection (r25-regr N1).
	_ = peer.ln.(*net.TCPListener).SetDeadline(time.Now().Add(5 * time.Second))
	c, err := peer.ln.Accept()
	if err != nil {
		t.Fatalf("no new connection for the CANCEL: %v", err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	r := &raw{t: t, conn: c, rd: bufio.NewReader(c), tr: "tcp"}
	req, ok := r.read().(*gosip.Request)
	if !ok || req.Method != gosip.CANCEL || req.CallID().Value() != peer.inv.CallID().Value() ||
		req.CSeq().SeqNo != peer.inv.CSeq().SeqNo {
		t.Fatalf("peer read %v, want the CANCEL of the INVITE", req)
	}
	got, _ := req.Via().Params.Get("branch")
	want, _ := peer.inv.Via().Params.Get("branch")
	if got != want {
		t.Errorf("CANCEL's branch %q, want the INVITE's %q", got, want)
	}
	// The peer answers the CANCEL and the INVITE (487) on the new
	// connection: the 487 is ACKed (RFC 3261 §17.1.1.3; r25-reviewD #1),
	// over that connection, and the sink, which had the end already,
	// hears of no other.
	r.send(gosip.NewResponseFromRequest(req, 200, "OK", nil).String())
	peer.respond(r, 487, "Request Terminated")
	ack, ok := r.read().(*gosip.Request)
	if !ok || !ack.IsAck() || ack.CSeq().SeqNo != peer.inv.CSeq().SeqNo {
		t.Fatalf("peer read %v after its 487, want the ACK", ack)
	}
	if got, _ := ack.Via().Params.Get("branch"); got != want {
		t.Errorf("ACK's branch %q, want the INVITE's %q", got, want)
	}
	select {
	case <-sink.tx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the INVITE's transaction still there 5 s after its 487")
	}
	select {
	case err := <-sink.done:
		t.Errorf("the sink heard of a second end: %v", err)
	default:
	}
}

// TestInviteClosedWhileRingingEndsUnanswered: after the wait, a peer that
// answers neither the CANCEL nor the INVITE does not keep the INVITE's
// transaction for ever: it ends after another ClosedWait.
func TestInviteClosedWhileRingingEndsUnanswered(t *testing.T) {
	peer := listenResetPeer(t)
	const wait = 200 * time.Millisecond
	s := startSideConfig(t, SideConfig{Name: "test", Listen: netip.MustParseAddrPort("127.0.0.1:0"), UserAgent: "test",
		Log: zerolog.Nop(), Handler: newRecorder(), ClosedWait: wait})
	sink := sendInvite(t, s, peer.addr())
	peer.accept()
	peer.respond(peer.conn, 180, "Ringing")
	waitCode(t, sink, 180)
	peer.conn.conn.Close()
	select {
	case err := <-sink.done:
		if !errors.Is(err, ErrTransport) {
			t.Fatalf("transaction ended with %v, want ErrTransport", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("transaction still pending 10 s after an orderly close while ringing")
	}
	select {
	case <-sink.tx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the INVITE's transaction still there 10 s after its wait ran out")
	}
}

// TestInviteOutlivesConnectionAnsweredElsewhere: when the peer's responses
// came over a connection of its own (RFC 3261 §18.2.2), the end of the
// connection the INVITE went on does not end the transaction: its final
// response still comes the other way.
func TestInviteOutlivesConnectionAnsweredElsewhere(t *testing.T) {
	peer := listenResetPeer(t)
	s := startSide(t, newRecorder())
	sink := sendInvite(t, s, peer.addr())
	peer.accept()
	other := dialRaw(t, "tcp", s.Addr())
	peer.respond(other, 100, "Trying")
	waitCode(t, sink, 100)
	peer.reset()
	// The side has seen the reset once its connection is out of the pool.
	deadline := time.Now().Add(5 * time.Second)
	for s.ConnectionOpen(peer.addr().String()) {
		if time.Now().After(deadline) {
			t.Fatal("reset connection still pooled after 5 s")
		}
		time.Sleep(time.Millisecond)
	}
	select {
	case err := <-sink.done:
		t.Fatalf("transaction ended with %v after the reset, its responses came another way", err)
	default:
	}
	peer.respond(other, 486, "Busy Here")
	select {
	case err := <-sink.done:
		if err != nil {
			t.Errorf("transaction ended with %v after its 486", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no end 5 s after the 486")
	}
	// The INVITE's connection is gone: its ACK goes to the INVITE's
	// destination over a new one (RFC 3261 §17.1.1.3).
	_ = peer.ln.(*net.TCPListener).SetDeadline(time.Now().Add(5 * time.Second))
	c, err := peer.ln.Accept()
	if err != nil {
		t.Fatalf("no new connection for the ACK: %v", err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	r := &raw{t: t, conn: c, rd: bufio.NewReader(c), tr: "tcp"}
	if ack, ok := r.read().(*gosip.Request); !ok || !ack.IsAck() || ack.CallID().Value() != peer.inv.CallID().Value() {
		t.Fatalf("peer read %v on the new connection, want the ACK of its 486", ack)
	}
	if got := sinkCodes(sink); !slices.Equal(got, []int{100, 486}) {
		t.Errorf("sink got %v, want 100 and 486", got)
	}
}

// TestWatchedConnEnds: a watched connection is dead after a failed read or
// a Close, and says why.
func TestWatchedConnEnds(t *testing.T) {
	a, b := net.Pipe()
	w := watchConn(a, writeLimit{})
	if w.Err() != nil {
		t.Fatal("open connection has an error")
	}
	b.Close()
	if _, err := w.Read(make([]byte, 1)); err == nil {
		t.Fatal("read of a closed pipe succeeded")
	}
	select {
	case <-w.Dead():
	default:
		t.Fatal("not dead after a failed read")
	}
	if w.Err() == nil || errors.Is(w.Err(), net.ErrClosed) {
		t.Errorf("Err = %v, want the peer's close", w.Err())
	}
	c, d := net.Pipe()
	defer d.Close()
	w = watchConn(c, writeLimit{})
	w.Close()
	select {
	case <-w.Dead():
	default:
		t.Fatal("not dead after Close")
	}
	if !errors.Is(w.Err(), net.ErrClosed) {
		t.Errorf("Err = %v, want net.ErrClosed", w.Err())
	}
}

// TestCancelledInviteWithoutFinalEnds: a peer that answers our CANCEL but
// never sends the INVITE's 487 does not keep the INVITE's transaction for
// ever: it ends CancelWait after the CANCEL (RFC 3261 §9.1: 64*T1). It
// used to stay until the side closed (r26-reviewA F7).
func TestCancelledInviteWithoutFinalEnds(t *testing.T) {
	peer := listenResetPeer(t)
	const wait = 200 * time.Millisecond
	s := startSideConfig(t, SideConfig{Name: "test", Listen: netip.MustParseAddrPort("127.0.0.1:0"), UserAgent: "test",
		Log: zerolog.Nop(), Handler: newRecorder(), CancelWait: wait})
	sink := sendInvite(t, s, peer.addr())
	peer.accept()
	peer.respond(peer.conn, 180, "Ringing")
	waitCode(t, sink, 180)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := sink.tx.Cancel(ctx); err != nil {
		t.Fatal(err)
	}
	req, ok := peer.conn.read().(*gosip.Request)
	if !ok || req.Method != gosip.CANCEL {
		t.Fatalf("peer read %v, want the CANCEL", req)
	}
	peer.conn.send(gosip.NewResponseFromRequest(req, 200, "OK", nil).String())
	select {
	case <-sink.tx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the CANCELled INVITE's transaction still there 10 s after its CANCEL was answered")
	}
}

// TestDialledFlowOtherPortUnreachable: we dialled the peer (its port P);
// its 200's Contact names another port Q of its IP where nothing listens
// (a port forward of P alone, a misconfigured advertised port). The BYE
// tries Q first (RFC 3263), then the open connection to P, and is
// delivered there (r26-reviewA F1).
func TestDialledFlowOtherPortUnreachable(t *testing.T) {
	peer := listenResetPeer(t)
	s := startSideConfig(t, SideConfig{Name: "test", Listen: netip.MustParseAddrPort("127.0.0.1:0"), UserAgent: "test",
		Log: zerolog.Nop(), Handler: newRecorder(), DialTimeout: 2 * time.Second})
	sink := sendInvite(t, s, peer.addr())
	peer.accept()
	// A free port: listen and close.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	q := l.Addr().(*net.TCPAddr).Port
	l.Close()
	res := gosip.NewResponseFromRequest(peer.inv, 200, "OK", nil)
	res.To().Params.Add("tag", "sbc")
	res.AppendHeader(&gosip.ContactHeader{Address: gosip.Uri{Scheme: "sip", Host: "127.0.0.1", Port: q, UriParams: gosip.HeaderParams{{K: "transport", V: "tcp"}}}})
	peer.conn.send(res.String())
	waitCode(t, sink, 200)
	// Build the dialog from the 200 as the call does.
	r := gosip.NewResponseFromRequest(sink.tx.Req, 200, "OK", nil)
	r.To().Params.Add("tag", "sbc")
	r.AppendHeader(&gosip.ContactHeader{Address: gosip.Uri{Scheme: "sip", Host: "127.0.0.1", Port: q, UriParams: gosip.HeaderParams{{K: "transport", V: "tcp"}}}})
	r.SetSource(peer.addr().String())
	d := NewUACDialog(s, sink.tx.Req, r)
	bye := d.NewRequest(gosip.BYE, 0, nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, _, err := d.Send(ctx, bye, Discard); err != nil {
		t.Fatalf("BYE not sent: %v", err)
	}
	if req, ok := peer.conn.read().(*gosip.Request); !ok || req.Method != gosip.BYE {
		t.Fatalf("peer read %v on its connection, want the BYE", req)
	}
}

// TestAckOverPeersNewConnection: an INVITE sent on a connection the peer
// opened (a NAT'd SBC's flow: the destination is its ephemeral source
// port, where nothing listens). The peer closes that connection after a
// 180 and sends its 486 over a new one it opens to our listener: the ACK
// goes back on that new connection. It was dialled to the dead ephemeral
// port (r26-reviewA F3).
func TestAckOverPeersNewConnection(t *testing.T) {
	s := startSideConfig(t, SideConfig{Name: "test", Listen: netip.MustParseAddrPort("127.0.0.1:0"), UserAgent: "test",
		Log: zerolog.Nop(), Handler: newRecorder(), ClosedWait: 5 * time.Second, DialTimeout: 2 * time.Second})
	c1 := dialRaw(t, "tcp", s.Addr())
	flow := netip.MustParseAddrPort(c1.conn.LocalAddr().String())
	// Wait until the accepted connection is in sipgo's pool.
	deadline := time.Now().Add(5 * time.Second)
	for !s.ConnectionOpen(flow.String()) {
		if time.Now().After(deadline) {
			t.Fatal("flow not in pool")
		}
		time.Sleep(5 * time.Millisecond)
	}
	inv := s.NewInvite(Invite{Target: flow, Transport: "tcp", RequestUser: "b", FromUser: "a", ToUser: "b", MaxForwards: 70})
	sink := &sinkRec{done: make(chan error, 2)}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	tx, err := s.Send(ctx, inv, sink)
	if err != nil {
		t.Fatal(err)
	}
	sink.tx = tx
	req, ok := c1.read().(*gosip.Request)
	if !ok || !req.IsInvite() {
		t.Fatalf("peer read %v", req)
	}
	peer := &resetPeer{t: t, inv: req}
	peer.respond(c1, 180, "Ringing")
	waitCode(t, sink, 180)
	c1.conn.Close()
	// wait until our side saw the close
	deadline = time.Now().Add(5 * time.Second)
	for s.ConnectionOpen(flow.String()) {
		if time.Now().After(deadline) {
			t.Fatal("flow still open")
		}
		time.Sleep(5 * time.Millisecond)
	}
	c2 := dialRaw(t, "tcp", s.Addr())
	peer.respond(c2, 486, "Busy Here")
	waitCode(t, sink, 486)
	_ = c2.conn.SetReadDeadline(time.Now().Add(4 * time.Second))
	rd := bufio.NewReader(c2.conn)
	line, err := rd.ReadString('\n')
	if err != nil {
		t.Fatalf("no ACK on the peer's new connection within 4 s: %v", err)
	}
	if !strings.HasPrefix(line, "ACK ") {
		t.Fatalf("peer's new connection got %q, want the ACK", line)
	}
}

// TestHandshakeFailureReasons: a handshake we cut short by closing the
// connection (a stranger's idle timeout) is a timeout, not "other" with
// Go's "use of closed network connection" (r26-hostile H2); a reset
// before any handshake is quiet, as a close is.
func TestHandshakeFailureReasons(t *testing.T) {
	var h HandshakeFailures
	for _, tt := range []struct {
		err    error
		reason string
		quiet  bool
	}{
		{fmt.Errorf("read tcp: %w", net.ErrClosed), "timeout", false},
		{fmt.Errorf("read tcp: %w", syscall.ECONNRESET), "other", true},
		{io.EOF, "other", true},
		{errors.New("tls: first record does not look like a TLS handshake"), "other", false},
	} {
		if _, reason, _, quiet := handshakeFailure(tt.err, nil, &h); reason != tt.reason || quiet != tt.quiet {
			t.Errorf("%v: reason %s quiet %v, want %s %v", tt.err, reason, quiet, tt.reason, tt.quiet)
		}
	}
}

// TestWriteTimeoutClosesStalledConnection: a peer that takes our TCP
// connection and never reads it (a hung SBC whose kernel keeps the
// connection, its window at zero). Once the socket buffers are full, a
// write waits WriteTimeout at most: the request fails as a transport
// error (a caller of Send gets it, a call fails over or gets 503), the
// connection is closed and counted. Without a deadline every later write,
// and what waited on it, hung for good (r27-tcp F1).
func TestWriteTimeoutClosesStalledConnection(t *testing.T) {
	peer, _ := stalledPeer(t)
	s := startSideConfig(t, SideConfig{Name: "test", Listen: netip.MustParseAddrPort("127.0.0.1:0"), UserAgent: "test",
		Log: zerolog.Nop(), Handler: newRecorder(), Conn: ConnLimits{WriteTimeout: 200 * time.Millisecond}})
	floodStalled(t, s, peer, "tcp")
}

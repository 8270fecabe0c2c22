package mediation_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/endpoint"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
)

// resetSBC is a raw TCP trunk that reads each INVITE, optionally answers
// 100 Trying, and then resets the connection (SO_LINGER 0): an SBC that
// lost the call.
type resetSBC struct {
	ln      net.Listener
	invites atomic.Int32
}

func startResetSBC(t *testing.T, trying bool) *resetSBC {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	s := &resetSBC{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c, trying)
		}
	}()
	return s
}

func (s *resetSBC) addr() netip.AddrPort { return netip.MustParseAddrPort(s.ln.Addr().String()) }

func (s *resetSBC) serve(c net.Conn, trying bool) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	msg, err := readStreamMessage(bufio.NewReader(c))
	if err != nil {
		return
	}
	req, ok := msg.(*gosip.Request)
	if !ok || !req.IsInvite() {
		return
	}
	s.invites.Add(1)
	if trying {
		res := gosip.NewResponseFromRequest(req, 100, "Trying", nil)
		if _, err := c.Write([]byte(res.String())); err != nil {
			return
		}
	}
	_ = c.(*net.TCPConn).SetLinger(0)
}

// readStreamMessage reads one SIP message from a TCP stream.
func readStreamMessage(rd *bufio.Reader) (gosip.Message, error) {
	var head strings.Builder
	length := 0
	for {
		line, err := rd.ReadString('\n')
		if err != nil {
			return nil, err
		}
		head.WriteString(line)
		if strings.HasPrefix(strings.ToLower(line), "content-length:") {
			_, _ = fmt.Sscan(strings.TrimSpace(line[len("content-length:"):]), &length)
		}
		if line == "\r\n" {
			break
		}
	}
	body := make([]byte, length)
	if _, err := io.ReadFull(rd, body); err != nil {
		return nil, err
	}
	return gosip.ParseMessage(append([]byte(head.String()), body...))
}

// resetConfig gives the server RFC 3261's default T1 (Timer B is then 32
// s, as in production) and a failover timer longer than the test waits.
func resetConfig(c *mediation.Config) {
	c.SIP.T1 = 500 * time.Millisecond
	c.GatewayFailover.Timeout = 10 * time.Second
}

// TestFailoverOnConnectionReset: a TCP trunk that resets the connection
// carrying our INVITE, before any response or after its 100 Trying, fails
// over to the next trunk at once, as an unreachable one (not after Timer B
// or gateway_failover.timeout, nor never after the 100).
func TestFailoverOnConnectionReset(t *testing.T) {
	for _, trying := range []bool{false, true} {
		name := "before any response"
		if trying {
			name = "after 100 Trying"
		}
		t.Run(name, func(t *testing.T) {
			sbc := startResetSBC(t, trying)
			backup := startPeer(t, "backup")
			records := filepath.Join(t.TempDir(), "records.jsonl")
			srv := serveTo(t, backup.addr(), "udp", func(c *mediation.Config) {
				resetConfig(c)
				c.Gateways = []mediation.GatewayConfig{
					{Name: "first", Address: sbc.addr().String(), Transport: "tcp", Numbers: []string{"+1"}, Priority: 0},
					trunkConfig("backup", backup, 1, "+1"),
				}
				c.Records.Path = records
			})
			start := time.Now()
			if code := placeCall(t, srv); code != 200 {
				t.Fatalf("caller got %d, want 200 from the backup trunk", code)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("answered after %v: the reset was not taken as a transport failure", d)
			}
			if n := sbc.invites.Load(); n != 1 {
				t.Errorf("resetting trunk got %d INVITEs, want 1", n)
			}
			checkTried(t, srv, records, "first", "backup")
			mediationtest.WaitMetric(t, srv, 1, "mediationserver_gateway_failovers_total", "gateway", "first", "reason", "unreachable")
		})
	}
}

// TestConnectionResetFailsCall: with no other trunk, the caller of a call
// whose TCP trunk resets the connection gets 503, as for a trunk that
// refuses the connection, within a few seconds.
func TestConnectionResetFailsCall(t *testing.T) {
	for _, trying := range []bool{false, true} {
		name := "before any response"
		if trying {
			name = "after 100 Trying"
		}
		t.Run(name, func(t *testing.T) {
			sbc := startResetSBC(t, trying)
			srv := serveTo(t, sbc.addr(), "tcp", resetConfig)
			start := time.Now()
			if code := placeCall(t, srv); code != 503 {
				t.Fatalf("caller got %d, want 503", code)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("503 after %v: the reset was not taken as a transport failure", d)
			}
			if n := sbc.invites.Load(); n != 1 {
				t.Errorf("trunk got %d INVITEs, want 1", n)
			}
			waitCalls(t, srv, 0)
		})
	}
}

// TestInboundConnectionResetFailsCall: the same on the edge side: an
// inbound call whose edge peer, over TCP, resets the connection carrying
// our INVITE after its 100 Trying gets 503 at the SBC within a few seconds
// (it used to ring on until ring_timeout).
func TestInboundConnectionResetFailsCall(t *testing.T) {
	ctx := testCtx(t, 20*time.Second)
	edge := startResetSBC(t, true)
	sbc := startPeer(t, "sbc")
	srv := serveTo(t, sbc.addr(), "udp", func(c *mediation.Config) {
		resetConfig(c)
		c.Edge.Peer, c.Edge.PeerTransport = edge.addr().String(), "tcp"
	})
	start := time.Now()
	oc := sbc.call(ctx, srv.GatewayAddr(), "udp", loopSDP(sockPort(rtpSock(t)), "sendrecv", true, "PCMU"))
	if res := oc.answer(ctx, nil); res.StatusCode != 503 {
		t.Fatalf("SBC got %d, want 503", res.StatusCode)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("503 after %v: the reset was not taken as a transport failure", d)
	}
	if n := edge.invites.Load(); n != 1 {
		t.Errorf("edge peer got %d INVITEs, want 1", n)
	}
	waitCalls(t, srv, 0)
}

// TestLateAnswerAfterConnectionReset: a TCP trunk that rings, resets the
// connection carrying our INVITE (the call fails over to the next trunk)
// and then answers after all over a new connection gets its 2xx ACKed and
// the call it set up hung up with BYE, while the call rings on at the next
// trunk: its callee must not sit in a call no one is on (r25-reviewD #1).
func TestLateAnswerAfterConnectionReset(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	first := netip.MustParseAddrPort(ln.Addr().String())
	// Everything the first trunk reads after its reset, on any connection.
	got := make(chan *gosip.Request, 16)
	read := func(c net.Conn) {
		rd := bufio.NewReader(c)
		for {
			msg, err := readStreamMessage(rd)
			if err != nil {
				return
			}
			if req, ok := msg.(*gosip.Request); ok {
				got <- req
			}
		}
	}
	invite := make(chan *gosip.Request, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		msg, err := readStreamMessage(bufio.NewReader(c))
		req, ok := msg.(*gosip.Request)
		if err != nil || !ok || !req.IsInvite() {
			c.Close()
			return
		}
		res := gosip.NewResponseFromRequest(req, 180, "Ringing", nil)
		res.To().Params.Add("tag", "first")
		_, _ = c.Write([]byte(res.String()))
		_ = c.(*net.TCPConn).SetLinger(0)
		c.Close()
		invite <- req
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go read(c)
		}
	}()
	release := make(chan struct{})
	backup := startPeer(t, "backup")
	backup.invites(func(pi *peerInvite) {
		pi.respond(180, nil)
		select {
		case <-release:
		case <-ctx.Done():
			return
		}
		pi.respond(200, fixtureBody(t, "sbc-answer-pcma.sdp"))
		pi.waitAck(ctx)
	})
	srv := serveTo(t, backup.addr(), "udp", func(c *mediation.Config) {
		resetConfig(c)
		c.Gateways = []mediation.GatewayConfig{
			{Name: "first", Address: first.String(), Transport: "tcp", Numbers: []string{"+1"}, Priority: 0},
			trunkConfig("backup", backup, 1, "+1"),
		}
	})
	client := startClient(t, ctx, "")
	type result struct {
		code int
		err  error
	}
	calls := make(chan result, 1)
	go func() {
		rep, err := client.Call(ctx, endpoint.CallOptions{Target: srv.EdgeAddr(), To: "+15550100", From: "+15550111", Duration: 50 * time.Millisecond})
		calls <- result{rep.Code, err}
	}()
	var inv *gosip.Request
	select {
	case inv = <-invite:
	case <-ctx.Done():
		t.Fatal("the first trunk got no INVITE")
	}
	backup.wait(ctx, gosip.INVITE, 1) // failed over, ringing there
	// The first trunk answers after all, over a new connection to our Via.
	ok := gosip.NewResponseFromRequest(inv, 200, "OK", fixtureBody(t, "sbc-answer-pcma.sdp"))
	ok.To().Params.Add("tag", "first")
	ok.AppendHeader(gosip.NewHeader("Contact", "<sip:sbc@"+first.String()+";transport=tcp>"))
	ok.AppendHeader(gosip.NewHeader("Content-Type", "application/sdp"))
	c, err := net.Dial("tcp", srv.GatewayAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	go read(c)
	if _, err := c.Write([]byte(ok.String())); err != nil {
		t.Fatal(err)
	}
	var ack, bye bool
	for !ack || !bye {
		select {
		case req := <-got:
			if req.CallID().Value() != inv.CallID().Value() {
				continue
			}
			ack = ack || req.IsAck()
			bye = bye || req.Method == gosip.BYE
		case <-ctx.Done():
			t.Fatalf("the first trunk's late 200: ACK %v, BYE %v", ack, bye)
		}
	}
	close(release)
	if r := <-calls; r.err != nil || r.code != 200 {
		t.Fatalf("caller got %d (%v), want 200 from the backup trunk", r.code, r.err)
	}
}

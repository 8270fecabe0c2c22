package mediation_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"
)

// tcpSBC is a raw SBC over TCP on 127.0.64.x: it listens on one port (its
// trunk address, what its Via and Contact may name) and opens connections
// to the server from ephemeral ports, as real SBCs do. Every message it
// reads, on any connection, is recorded with the connection's name.
type tcpSBC struct {
	t    *testing.T
	ip   string
	ln   net.Listener
	mu   sync.Mutex
	msgs []tcpMsg
	ch   chan struct{}
	n    int
	// tlsClient, when set, makes dial open TLS connections (the raw TCP
	// connection under each is kept in raw, for a reset).
	tlsClient *tls.Config
	raw       map[net.Conn]net.Conn
}

type tcpMsg struct {
	conn string // "dial1", "dial2", ... or "accepted1", ...
	msg  gosip.Message
	c    net.Conn
}

func startTCPSBC(t *testing.T, ip string) *tcpSBC {
	t.Helper()
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	s := &tcpSBC{t: t, ip: ip, ln: ln, ch: make(chan struct{})}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for i := 1; ; i++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { _ = c.Close() })
			go s.read(fmt.Sprintf("accepted%d", i), c)
		}
	}()
	return s
}

func (s *tcpSBC) addr() netip.AddrPort { return netip.MustParseAddrPort(s.ln.Addr().String()) }

// dial opens a connection to the server from an ephemeral port.
func (s *tcpSBC) dial(to netip.AddrPort) (net.Conn, string) {
	s.t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(s.ip)}}
	c, err := d.Dial("tcp", to.String())
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { _ = c.Close() })
	if s.tlsClient != nil {
		tc := tls.Client(c, s.tlsClient)
		if err := tc.Handshake(); err != nil {
			s.t.Fatalf("TLS handshake: %v", err)
		}
		s.mu.Lock()
		if s.raw == nil {
			s.raw = map[net.Conn]net.Conn{}
		}
		s.raw[tc] = c
		s.mu.Unlock()
		c = tc
	}
	s.mu.Lock()
	s.n++
	name := fmt.Sprintf("dial%d", s.n)
	s.mu.Unlock()
	go s.read(name, c)
	return c, name
}

func (s *tcpSBC) read(name string, c net.Conn) {
	rd := bufio.NewReader(c)
	for {
		// Skip keep-alive CRLFs between messages.
		for {
			b, err := rd.Peek(1)
			if err != nil {
				return
			}
			if b[0] != '\r' && b[0] != '\n' {
				break
			}
			_, _ = rd.ReadByte()
		}
		m, err := readStreamMessage(rd)
		if err != nil {
			return
		}
		s.mu.Lock()
		s.msgs = append(s.msgs, tcpMsg{conn: name, msg: m, c: c})
		close(s.ch)
		s.ch = make(chan struct{})
		s.mu.Unlock()
	}
}

// wait returns the first message recorded that matches.
func (s *tcpSBC) wait(ctx context.Context, what string, match func(gosip.Message) bool) tcpMsg {
	s.t.Helper()
	for {
		s.mu.Lock()
		for _, m := range s.msgs {
			if match(m.msg) {
				s.mu.Unlock()
				return m
			}
		}
		ch := s.ch
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			s.t.Fatalf("SBC: no %s (got %s)", what, s.summary())
		}
	}
}

func (s *tcpSBC) summary() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, m := range s.msgs {
		first := ""
		switch r := m.msg.(type) {
		case *gosip.Request:
			first = string(r.Method)
		case *gosip.Response:
			first = fmt.Sprint(r.StatusCode)
		}
		out = append(out, m.conn+":"+first+"/"+m.msg.CSeq().Value())
	}
	return strings.Join(out, " ")
}

func isResponse(callID string, method gosip.RequestMethod, seq uint32, final bool) func(gosip.Message) bool {
	return func(m gosip.Message) bool {
		r, ok := m.(*gosip.Response)
		return ok && string(*r.CallID()) == callID && r.CSeq().MethodName == method && r.CSeq().SeqNo == seq &&
			(!final || r.StatusCode >= 200)
	}
}

func isRequest(callID string, method gosip.RequestMethod) func(gosip.Message) bool {
	return func(m gosip.Message) bool {
		r, ok := m.(*gosip.Request)
		return ok && string(*r.CallID()) == callID && r.Method == method
	}
}

// answer answers the request (read on m's connection) with code, our To-tag and
// Contact contact; extra header lines are added as they are.
func (s *tcpSBC) answer(m tcpMsg, code int, tag, contact string, body []byte, extra ...string) *gosip.Response {
	s.t.Helper()
	req := m.msg.(*gosip.Request)
	res := gosip.NewResponseFromRequest(req, code, "OK", body)
	if tag != "" && !res.To().Params.Has("tag") {
		res.To().Params.Add("tag", tag)
	}
	if contact != "" {
		res.AppendHeader(gosip.NewHeader("Contact", contact))
	}
	if body != nil {
		res.AppendHeader(gosip.NewHeader("Content-Type", "application/sdp"))
	}
	for _, e := range extra {
		kv := strings.SplitN(e, ": ", 2)
		res.AppendHeader(gosip.NewHeader(kv[0], kv[1]))
	}
	if _, err := m.c.Write([]byte(res.String())); err != nil {
		s.t.Fatal(err)
	}
	return res
}

// TestReinviteConnectionClosedAnswerLater: in an answered call over a TCP
// trunk, the SBC reads our relayed re-INVITE (the client's hold) and
// closes that connection (FIN, or RST) before any response; its 200 comes
// a moment later over a new connection of its own (RFC 3261 §18.2.2: to
// our Via's sent-by), as an SBC with short-lived connections does. A
// transport error is a 503 to that transaction (§8.1.3.1), not the call's
// end: the offer waits for the answer, which the client gets, and the
// SBC's 200 is ACKed. The call used to end at once, 408 to the client and
// BYE on both legs (r27-tcp F2). With the call ending meanwhile (the
// client hangs up), the SBC's 200 is still ACKed (r27-tcp F3).
func TestReinviteConnectionClosedAnswerLater(t *testing.T) {
	for _, tc := range []struct {
		name                     string
		rst, hangUp, answerFirst bool
	}{{"FIN", false, false, false}, {"RST", true, false, false}, {"client hangs up meanwhile", false, true, false},
		{"answered on a new connection, then the old one closed", false, false, true}} {
		t.Run(tc.name, func(t *testing.T) { reinviteConnectionClosed(t, tc.rst, tc.hangUp, tc.answerFirst) })
	}
}

// reinviteConnectionClosed: with answerFirst the SBC's 200 comes over its
// new connection just before it closes the old one, which the server may
// not have seen closed when it ACKs: the ACK goes where the 200 came from,
// not down the old connection, where it was lost (a race seen in CI).
func reinviteConnectionClosed(t *testing.T, rst, hangUp, answerFirst bool) {
	ctx := testCtx(t, 30*time.Second)
	sbc := startTCPSBC(t, "127.0.64.10")
	srv := serveTo(t, sbc.addr(), "tcp", nil)
	caller := startPeerOn(t, "caller", netip.MustParseAddrPort("127.0.64.11:0"), nil)
	oc := caller.call(ctx, srv.EdgeAddr(), "udp", fixtureBody(t, "sfb-bypass-offer.sdp"))
	inv := sbc.wait(ctx, "INVITE", func(m gosip.Message) bool { r, ok := m.(*gosip.Request); return ok && r.IsInvite() })
	contact := fmt.Sprintf("<sip:sbc@%s;transport=tcp>", sbc.addr())
	ok := sbc.answer(inv, 200, "", contact, fixtureBody(t, "sbc-answer-pcma.sdp"))
	if res := oc.answer(ctx, nil); res.StatusCode != 200 {
		t.Fatalf("caller got %d", res.StatusCode)
	}
	if err := oc.d.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	callID := string(*ok.CallID())
	sbc.wait(ctx, "ACK", isRequest(callID, gosip.ACK))

	reo := gosip.NewRequest(gosip.INVITE, oc.final.Contact().Address)
	reo.AppendHeader(gosip.NewHeader("Content-Type", "application/sdp"))
	reo.SetBody(fixtureBody(t, "hold-offer.sdp"))
	done := make(chan *gosip.Response, 1)
	go func() {
		res, _ := oc.d.Do(ctx, reo)
		done <- res
	}()
	rel := sbc.wait(ctx, "relayed re-INVITE", func(m gosip.Message) bool {
		r, ok := m.(*gosip.Request)
		return ok && r.IsInvite() && string(*r.CallID()) == callID && r.CSeq().SeqNo != inv.msg.CSeq().SeqNo
	})
	if rst {
		_ = rel.c.(*net.TCPConn).SetLinger(0)
	}
	var newConn string
	if answerFirst {
		newConn = answerOnNewConnection(t, sbc, srv.GatewayAddr(), rel, contact)
	}
	_ = rel.c.Close() // FIN (or RST), no response yet
	if hangUp {
		// The client hangs up: the call ends, our BYE to the SBC waits
		// for its answer, which the SBC holds back.
		<-done // 487: the call ended under its re-INVITE
		if err := oc.d.Bye(ctx); err != nil {
			t.Fatal(err)
		}
		sbc.wait(ctx, "BYE", isRequest(callID, gosip.BYE))
	}
	// The SBC's 200, over a connection of its own.
	if !answerFirst {
		newConn = answerOnNewConnection(t, sbc, srv.GatewayAddr(), rel, contact)
	}
	ack := sbc.wait(ctx, "the ACK of the SBC's 200 to our re-INVITE", func(m gosip.Message) bool {
		r, ok := m.(*gosip.Request)
		return ok && r.IsAck() && r.CSeq().SeqNo == rel.msg.CSeq().SeqNo
	})
	if answerFirst && ack.conn != newConn {
		t.Errorf("the ACK came on %s, want %s, where the SBC's 200 came from", ack.conn, newConn)
	}
	if hangUp {
		return
	}
	select {
	case got := <-done:
		if got == nil || got.StatusCode != 200 {
			t.Fatalf("the client's re-INVITE got %v, want the SBC's 200", got)
		}
	case <-ctx.Done():
		t.Fatal("the client's re-INVITE got no answer")
	}
	if n := caller.count(gosip.BYE); n > 0 || len(srv.Calls()) != 1 {
		t.Errorf("the call ended (%d BYEs to the client, %d calls) though the SBC answered the re-INVITE (wire at the SBC: %s)",
			n, len(srv.Calls()), sbc.summary())
	}
}

// answerOnNewConnection has the SBC answer rel, our re-INVITE, 200 over a
// new connection of its own; it returns that connection's name.
func answerOnNewConnection(t *testing.T, sbc *tcpSBC, to netip.AddrPort, rel tcpMsg, contact string) string {
	t.Helper()
	c2, name := sbc.dial(to)
	res := gosip.NewResponseFromRequest(rel.msg.(*gosip.Request), 200, "OK", fixtureBody(t, "sbc-answer-pcma.sdp"))
	res.AppendHeader(gosip.NewHeader("Contact", contact))
	res.AppendHeader(gosip.NewHeader("Content-Type", "application/sdp"))
	if _, err := c2.Write([]byte(res.String())); err != nil {
		t.Fatal(err)
	}
	return name
}

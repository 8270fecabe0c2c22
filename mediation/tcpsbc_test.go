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
	"github.com/rs/zerolog"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
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
	return s.waitOn(ctx, "", what, match)
}

// waitOn is wait for a message read on the connection named conn ("":
// any).
func (s *tcpSBC) waitOn(ctx context.Context, conn, what string, match func(gosip.Message) bool) tcpMsg {
	s.t.Helper()
	for {
		s.mu.Lock()
		for _, m := range s.msgs {
			if (conn == "" || m.conn == conn) && match(m.msg) {
				s.mu.Unlock()
				return m
			}
		}
		ch := s.ch
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			s.t.Fatalf("SBC: no %s on %q (got %s)", what, conn, s.summary())
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
	h := startTCPReinvite(ctx, t, nil)
	sbc, srv, caller, oc, rel, callID, contact := h.sbc, h.srv, h.caller, h.oc, h.rel, h.callID, h.contact
	done := make(chan *gosip.Response, 1)
	go func() {
		for {
			select {
			case r := <-h.tx.Responses():
				if r.StatusCode >= 200 {
					done <- r
					return
				}
			case <-ctx.Done():
				done <- nil
				return
			}
		}
	}()
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
		ourTag, _ := oc.inv.From().Params.Get("tag")
		if res, err := caller.stack.Client("udp").Do(ctx, inCallerDialog(oc, gosip.BYE, 2, ourTag)); err != nil || res.StatusCode != 200 {
			t.Fatalf("the client's BYE: %v %v", res, err)
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

// tcpReinvite is an answered outbound call from caller (UDP) through srv
// to sbc over TCP, whose client has sent a hold re-INVITE (reinv, its
// transaction tx), relayed to the SBC (rel), not answered.
type tcpReinvite struct {
	sbc      *tcpSBC
	srv      *mediation.Server
	caller   *peer
	oc       *outCall
	reinv    *gosip.Request
	tx       gosip.ClientTransaction
	rel      tcpMsg
	callID   string // of the gateway leg
	contact  string // the SBC's
	inviteCS uint32 // CSeq of our INVITE to the SBC
}

func startTCPReinvite(ctx context.Context, t *testing.T, logs *syncBuffer) *tcpReinvite {
	t.Helper()
	h := &tcpReinvite{sbc: startTCPSBC(t, "127.0.64.10")}
	if logs != nil {
		h.srv = mediationtest.Serve(t, labConfig(h.sbc.addr(), "tcp"), zerolog.New(logs).Level(zerolog.InfoLevel))
	} else {
		h.srv = serveTo(t, h.sbc.addr(), "tcp", nil)
	}
	h.caller = startPeerOn(t, "caller", netip.MustParseAddrPort("127.0.64.11:0"), nil)
	h.oc = h.caller.call(ctx, h.srv.EdgeAddr(), "udp", fixtureBody(t, "sfb-bypass-offer.sdp"))
	inv := h.sbc.wait(ctx, "INVITE", func(m gosip.Message) bool { r, ok := m.(*gosip.Request); return ok && r.IsInvite() })
	h.inviteCS = inv.msg.CSeq().SeqNo
	h.contact = fmt.Sprintf("<sip:sbc@%s;transport=tcp>", h.sbc.addr())
	ok := h.sbc.answer(inv, 200, "", h.contact, fixtureBody(t, "sbc-answer-pcma.sdp"))
	if res := h.oc.answer(ctx, nil); res.StatusCode != 200 {
		t.Fatalf("caller got %d", res.StatusCode)
	}
	if err := h.oc.d.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	h.callID = string(*ok.CallID())
	h.sbc.wait(ctx, "ACK", isRequest(h.callID, gosip.ACK))
	ourTag, _ := h.oc.inv.From().Params.Get("tag")
	h.reinv = inCallerDialog(h.oc, gosip.INVITE, 1, ourTag)
	h.reinv.AppendHeader(gosip.NewHeader("Content-Type", "application/sdp"))
	h.reinv.SetBody(fixtureBody(t, "hold-offer.sdp"))
	tx, err := h.caller.stack.Client("udp").TransactionRequest(ctx, h.reinv)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tx.Terminate)
	h.tx = tx
	h.rel = h.sbc.wait(ctx, "relayed re-INVITE", func(m gosip.Message) bool {
		r, ok := m.(*gosip.Request)
		return ok && r.IsInvite() && string(*r.CallID()) == h.callID && r.CSeq().SeqNo != h.inviteCS
	})
	return h
}

// respondOn writes the SBC's code to req over c.
func respondOn(t *testing.T, c net.Conn, req *gosip.Request, code int, body []byte) {
	t.Helper()
	res := gosip.NewResponseFromRequest(req, code, "X", body)
	if body != nil {
		res.AppendHeader(gosip.NewHeader("Content-Type", "application/sdp"))
	}
	if _, err := c.Write([]byte(res.String())); err != nil {
		t.Fatal(err)
	}
}

// TestReinviteConnectionClosedThenRefusedOrCancelled: our relayed
// re-INVITE's TCP connection ends before any response (the SBC closes
// it), and the SBC's responses come over a new connection of its own
// (RFC 3261 §18.2.2). Its transaction is gone with the connection, so:
//   - a non-2xx final response (488) is ACKed here, in the INVITE's
//     transaction (its Via branch, RFC 3261 §17.1.1.3), back over the
//     connection it came on; the client gets the 488 and the call goes on;
//   - the client's CANCEL, which waited for a provisional (§9.1), goes
//     when the SBC's 180 comes, with the re-INVITE's branch; the SBC's 487
//     is ACKed in turn.
//
// Neither used to go: the SBC's transaction waited for its Timer H, and
// the cancelled re-INVITE rang on until its final response. The SBC
// answers once the server has seen the connection end (its log line):
// before, the transaction is still there and does this itself. With the
// old connection not seen to end (still open here), the 488 over the new
// one has an ACK there too: written only down the old connection, which
// an SBC answering over a new one has usually closed, it was lost when
// the server had not yet read that close (r28-review F4).
func TestReinviteConnectionClosedThenRefusedOrCancelled(t *testing.T) {
	for _, tc := range []struct {
		name            string
		cancelled, open bool
	}{{"488", false, false}, {"CANCEL after 180", true, false}, {"488, old connection not seen closed", false, true}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t, 30*time.Second)
			logs := new(syncBuffer)
			h := startTCPReinvite(ctx, t, logs)
			rel := h.rel.msg.(*gosip.Request)
			branch, _ := rel.Via().Params.Get("branch")
			if tc.cancelled {
				if res, err := h.caller.stack.Client("udp").Do(ctx, cancelOfReinvite(h.reinv)); err != nil || res.StatusCode != 200 {
					t.Fatalf("CANCEL of the re-INVITE: %v %v", res, err)
				}
				if final := finalOf(ctx, t, h.tx); final.StatusCode != 487 {
					t.Fatalf("cancelled re-INVITE got %d, want 487", final.StatusCode)
				}
			}
			if !tc.open {
				_ = h.rel.c.Close()
				waitLogged(ctx, t, logs, "connection of the relayed re-INVITE ended before its answer")
			}
			c2, name := h.sbc.dial(h.srv.GatewayAddr())
			code := 488
			if tc.cancelled {
				respondOn(t, c2, rel, 180, nil)
				cm := h.sbc.wait(ctx, "our CANCEL of the re-INVITE, due since the client's", isRequest(h.callID, gosip.CANCEL))
				c := cm.msg.(*gosip.Request)
				if b, _ := c.Via().Params.Get("branch"); b != branch || c.CSeq().SeqNo != rel.CSeq().SeqNo {
					t.Fatalf("CANCEL branch %s CSeq %d, want the re-INVITE's %s %d", b, c.CSeq().SeqNo, branch, rel.CSeq().SeqNo)
				}
				if cm.conn != name {
					t.Errorf("CANCEL on %s, want %s, where the 180 came from", cm.conn, name)
				}
				respondOn(t, cm.c, c, 200, nil)
				code = 487
			}
			respondOn(t, c2, rel, code, nil)
			am := h.sbc.waitOn(ctx, name, "the ACK of the SBC's final response", func(m gosip.Message) bool {
				r, ok := m.(*gosip.Request)
				return ok && r.IsAck() && r.CSeq().SeqNo == rel.CSeq().SeqNo
			})
			ack := am.msg.(*gosip.Request)
			if b, _ := ack.Via().Params.Get("branch"); b != branch || am.conn != name {
				t.Errorf("ACK of the %d: branch %s on %s, want the re-INVITE's %s on %s, where the %d came from", code, b, am.conn, branch, name, code)
			}
			if !tc.cancelled {
				if final := finalOf(ctx, t, h.tx); final.StatusCode != 488 {
					t.Fatalf("the client's re-INVITE got %d, want the SBC's 488", final.StatusCode)
				}
			}
			if n := h.caller.count(gosip.BYE); n > 0 || len(h.srv.Calls()) != 1 {
				t.Errorf("the call ended (%d BYEs to the client, %d calls); wire at the SBC: %s", n, len(h.srv.Calls()), h.sbc.summary())
			}
		})
	}
}

// finalOf is the final response of the client transaction tx.
func finalOf(ctx context.Context, t *testing.T, tx gosip.ClientTransaction) *gosip.Response {
	t.Helper()
	for {
		select {
		case r := <-tx.Responses():
			if r.StatusCode >= 200 {
				return r
			}
		case <-ctx.Done():
			t.Fatal("no final response to the client's re-INVITE")
		}
	}
}

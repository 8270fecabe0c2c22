package sip

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"
)

func TestListenPair(t *testing.T) {
	udp, tcp, err := ListenPair(netip.MustParseAddrPort("127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	defer tcp.Close()
	u, c := udp.LocalAddr().(*net.UDPAddr).Port, tcp.Addr().(*net.TCPAddr).Port
	if u == 0 || u != c {
		t.Fatalf("UDP port %d, TCP port %d: want one port for both", u, c)
	}
	// The same address again is taken on both transports.
	if _, _, err := ListenPair(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(u))); err == nil {
		t.Fatal("a taken address was bound twice")
	}
}

// recorder is a Handler that keeps what it is handed, in order, and
// answers nothing unless told to.
type recorder struct {
	mu     sync.Mutex
	in     []*Incoming
	stray  []*gosip.Response
	notify chan struct{}
	answer func(*Incoming)
}

func newRecorder() *recorder { return &recorder{notify: make(chan struct{}, 100)} }

func (r *recorder) HandleRequest(in *Incoming) {
	r.mu.Lock()
	r.in = append(r.in, in)
	answer := r.answer
	r.mu.Unlock()
	if answer != nil {
		answer(in)
	}
	r.notify <- struct{}{}
}

func (r *recorder) HandleStrayResponse(_ *Side, res *gosip.Response) {
	r.mu.Lock()
	r.stray = append(r.stray, res)
	r.mu.Unlock()
	r.notify <- struct{}{}
}

func (r *recorder) methods() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var m []string
	for _, in := range r.in {
		m = append(m, string(in.Req.Method))
	}
	return m
}

func (r *recorder) waitN(t *testing.T, n int) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		r.mu.Lock()
		got := len(r.in) + len(r.stray)
		r.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-r.notify:
		case <-timeout:
			t.Fatalf("handler got %d messages, want %d", got, n)
		}
	}
}

func startSide(t *testing.T, h Handler) *Side {
	t.Helper()
	return startSideWith(t, h, ConnLimits{})
}

// startSideWith is startSide with connection limits.
func startSideWith(t *testing.T, h Handler, lim ConnLimits) *Side {
	t.Helper()
	return startSideConfig(t, SideConfig{Name: "test", Listen: netip.MustParseAddrPort("127.0.0.1:0"), UserAgent: "test", Log: zerolog.Nop(), Handler: h, Conn: lim})
}

// startSideConfig starts a side of cfg until the test ends.
func startSideConfig(t *testing.T, cfg SideConfig) *Side {
	t.Helper()
	s, err := NewSide(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// raw is a peer writing SIP text on a socket, as hostile or simple peers do.
type raw struct {
	t    *testing.T
	conn net.Conn
	rd   *bufio.Reader
	tr   string
}

func dialRaw(t *testing.T, tr string, to netip.AddrPort) *raw {
	t.Helper()
	c, err := net.Dial(tr, to.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	return &raw{t: t, conn: c, rd: bufio.NewReader(c), tr: tr}
}

func (r *raw) send(msg string) {
	r.t.Helper()
	msg = strings.ReplaceAll(msg, "%L", r.conn.LocalAddr().String())
	msg = strings.ReplaceAll(msg, "%T", strings.ToUpper(r.tr))
	if _, err := r.conn.Write([]byte(msg)); err != nil {
		r.t.Fatal(err)
	}
}

// read reads one message.
func (r *raw) read() gosip.Message {
	r.t.Helper()
	var data []byte
	if r.tr == "udp" {
		buf := make([]byte, 65535)
		n, err := r.conn.Read(buf)
		if err != nil {
			r.t.Fatalf("read: %v", err)
		}
		data = buf[:n]
	} else {
		var head strings.Builder
		n := 0
		for {
			line, err := r.rd.ReadString('\n')
			if err != nil {
				r.t.Fatalf("read: %v", err)
			}
			head.WriteString(line)
			if strings.HasPrefix(strings.ToLower(line), "content-length:") {
				fmt.Sscan(strings.TrimSpace(line[15:]), &n)
			}
			if line == "\r\n" {
				break
			}
		}
		body := make([]byte, n)
		if _, err := io.ReadFull(r.rd, body); err != nil {
			r.t.Fatal(err)
		}
		data = append([]byte(head.String()), body...)
	}
	m, err := gosip.ParseMessage(data)
	if err != nil {
		r.t.Fatalf("unparseable %q: %v", data, err)
	}
	return m
}

func request(method, branch, toTag string, cseq int) string {
	to := "<sip:b@127.0.0.1>"
	if toTag != "" {
		to += ";tag=" + toTag
	}
	return fmt.Sprintf("%s sip:b@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/%%T %%L;branch=z9hG4bK%s\r\nFrom: <sip:a@127.0.0.1>;tag=fa\r\n"+
		"To: %s\r\nCall-ID: c1\r\nCSeq: %d %s\r\nContact: <sip:a@%%L>\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n", method, branch, to, cseq, method)
}

// TestSideHandsRequestsInWireOrder: requests are handed over in the order
// they were read, a retransmission is absorbed by its transaction (which
// repeats its last response), and a CANCEL is a request of its own: the
// INVITE it cancels is not answered 487 behind the handler's back.
func TestSideHandsRequestsInWireOrder(t *testing.T) {
	for _, tr := range []string{"udp", "tcp"} {
		t.Run(tr, func(t *testing.T) {
			rec := newRecorder()
			rec.answer = func(in *Incoming) {
				if in.Req.Method == gosip.OPTIONS || in.Req.Method == gosip.CANCEL {
					_ = in.Reply(200, "OK", "ours")
				}
			}
			s := startSide(t, rec)
			p := dialRaw(t, tr, s.Addr())
			p.send(request("INVITE", "inv1", "", 1))
			p.send(request("CANCEL", "inv1", "", 1))
			for i := range 5 {
				p.send(request("OPTIONS", fmt.Sprintf("opt%d", i), "", 10+i))
			}
			if tr == "udp" {
				// A retransmission (over TCP, whose transactions end with
				// their final response, it would be a new request).
				p.send(request("OPTIONS", "opt4", "", 14))
			}
			rec.waitN(t, 7)
			want := "INVITE CANCEL OPTIONS OPTIONS OPTIONS OPTIONS OPTIONS"
			if got := strings.Join(rec.methods(), " "); got != want {
				t.Fatalf("handed %s, want %s", got, want)
			}
			answers := 6 // CANCEL and five OPTIONS
			if tr == "udp" {
				answers++ // the retransmission answered again
			}
			for i := 0; i < answers; i++ {
				res := p.read().(*gosip.Response)
				if res.StatusCode == 487 {
					t.Fatal("the INVITE was answered 487 by the transaction layer")
				}
				if res.StatusCode == 100 {
					i--
					continue
				}
				if res.StatusCode != 200 {
					t.Fatalf("got %d %s", res.StatusCode, res.CSeq().MethodName)
				}
			}
			if n := s.Stats().Retransmissions.Load(); tr == "udp" && n != 1 {
				t.Errorf("%d retransmissions absorbed, want 1", n)
			}
		})
	}
}

// TestSideRejectsMalformed: a request no transaction can be made of gets a
// stateless 400 and never reaches the handler.
func TestSideRejectsMalformed(t *testing.T) {
	rec := newRecorder()
	s := startSide(t, rec)
	p := dialRaw(t, "udp", s.Addr())
	p.send("OPTIONS sip:b@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP %L;branch=z9hG4bKx\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@x>\r\nCall-ID: c\r\nContent-Length: 0\r\n\r\n")
	if res := p.read().(*gosip.Response); res.StatusCode != 400 {
		t.Fatalf("got %d, want 400", res.StatusCode)
	}
	if len(rec.methods()) != 0 {
		t.Fatalf("handler got %v", rec.methods())
	}
	// RFC 3261 §18.3: a datagram shorter than its Content-Length.
	p.send("INVITE sip:b@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP %L;branch=z9hG4bKshort\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@x>\r\nCall-ID: short\r\nCSeq: 1 INVITE\r\nContact: <sip:a@127.0.0.1>\r\nContent-Type: application/sdp\r\nContent-Length: 500\r\n\r\nv=0\r\n")
	if res := p.read().(*gosip.Response); res.StatusCode != 400 || !strings.Contains(res.Reason, "Content-Length") {
		t.Fatalf("short datagram got %d %q, want 400 naming Content-Length", res.StatusCode, res.Reason)
	}
	p.send("this is not SIP\r\n\r\n")
	p.send(request("OPTIONS", "after", "", 1))
	rec.waitN(t, 1) // the socket still reads after garbage
	if s.Stats().Unparseable.Load() != 1 || s.Stats().Malformed.Load() != 2 {
		t.Errorf("stats: %d unparseable, %d malformed", s.Stats().Unparseable.Load(), s.Stats().Malformed.Load())
	}
}

// TestSideKeepAlive: a CRLFCRLF ping on TCP is answered with CRLF (RFC
// 5626 §3.5.1) and does not disturb the stream.
func TestSideKeepAlive(t *testing.T) {
	rec := newRecorder()
	rec.answer = func(in *Incoming) { _ = in.Reply(200, "OK", "") }
	s := startSide(t, rec)
	p := dialRaw(t, "tcp", s.Addr())
	p.send("\r\n\r\n")
	buf := make([]byte, 2)
	if _, err := io.ReadFull(p.rd, buf); err != nil || string(buf) != "\r\n" {
		t.Fatalf("pong %q %v", buf, err)
	}
	// One message split over two writes.
	msg := request("OPTIONS", "split", "", 1)
	p.send(msg[:20])
	p.send(msg[20:])
	if res := p.read().(*gosip.Response); res.StatusCode != 200 {
		t.Fatalf("got %d", res.StatusCode)
	}
}

// sinkRec records a client transaction's responses.
type sinkRec struct {
	mu    sync.Mutex
	codes []int
	done  chan error
	tx    *ClientTx // when the test keeps it
}

func (s *sinkRec) OnResponse(_ *ClientTx, res *gosip.Response) {
	s.mu.Lock()
	s.codes = append(s.codes, res.StatusCode)
	s.mu.Unlock()
}
func (s *sinkRec) OnDone(_ *ClientTx, err error) { s.done <- err }

// TestSideResponsesInWireOrder: the responses of a client transaction
// reach its sink in the order they were read, however fast they come.
func TestSideResponsesInWireOrder(t *testing.T) {
	peer, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	s := startSide(t, newRecorder())
	for round := range 50 {
		inv := s.NewInvite(Invite{Target: peer.LocalAddr().(*net.UDPAddr).AddrPort(), Transport: "udp", RequestUser: "b", FromUser: "a", ToUser: "b", MaxForwards: 70})
		sink := &sinkRec{done: make(chan error, 1)}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		tx, err := s.Send(ctx, inv, sink)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 65535)
		n, from, err := peer.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatal(err)
		}
		if from != s.Addr() {
			t.Fatalf("INVITE from %s, want the listening port %s", from, s.Addr())
		}
		m, _ := gosip.ParseMessage(buf[:n])
		req := m.(*gosip.Request)
		for _, code := range []int{180, 183, 200} {
			res := gosip.NewResponseFromRequest(req, code, "", nil)
			res.To().Params.Add("tag", "t")
			_, _ = peer.WriteToUDPAddrPort([]byte(res.String()), from)
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			sink.mu.Lock()
			got := fmt.Sprint(sink.codes)
			sink.mu.Unlock()
			if got == "[180 183 200]" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: sink got %s", round, got)
			}
			time.Sleep(time.Millisecond)
		}
		tx.Terminate()
		<-sink.done
	}
}

// TestSideDropsOtherVersionResponses: a response in a version other than
// SIP/2.0 (a request in one gets 505) cannot be answered: it is dropped,
// counted as unparseable, and neither its transaction nor the handler sees
// it; the SIP/2.0 response that follows is handled.
func TestSideDropsOtherVersionResponses(t *testing.T) {
	peer, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	rec := newRecorder()
	s := startSide(t, rec)
	inv := s.NewInvite(Invite{Target: peer.LocalAddr().(*net.UDPAddr).AddrPort(), Transport: "udp", RequestUser: "b", FromUser: "a", ToUser: "b", MaxForwards: 70})
	sink := &sinkRec{done: make(chan error, 1)}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	tx, err := s.Send(ctx, inv, sink)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { tx.Terminate(); <-sink.done }()
	_ = peer.SetDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 65535)
	n, from, err := peer.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := gosip.ParseMessage(buf[:n])
	req := m.(*gosip.Request)
	send := func(version string, code int) {
		res := gosip.NewResponseFromRequest(req, code, "", nil)
		res.SipVersion = version
		res.To().Params.Add("tag", "t")
		if _, err := peer.WriteToUDPAddrPort([]byte(res.String()), from); err != nil {
			t.Fatal(err)
		}
	}
	send("SIP/3.0", 180)
	// A stray one too: no transaction of ours has its branch.
	stray := gosip.NewResponseFromRequest(req, 200, "", nil)
	stray.SipVersion = "SIP/3.0"
	stray.Via().Params.Add("branch", "z9hG4bKnone")
	_, _ = peer.WriteToUDPAddrPort([]byte(stray.String()), from)
	send("sip/2.0", 183) // the version is case-insensitive
	deadline := time.Now().Add(5 * time.Second)
	for s.Stats().Unparseable.Load() < 2 || len(sinkCodes(sink)) < 1 {
		if time.Now().After(deadline) {
			t.Fatalf("unparseable %d, sink %v", s.Stats().Unparseable.Load(), sinkCodes(sink))
		}
		time.Sleep(time.Millisecond)
	}
	if got := sinkCodes(sink); fmt.Sprint(got) != "[183]" {
		t.Errorf("the transaction got %v, want only the SIP/2.0 183", got)
	}
	rec.mu.Lock()
	strays := len(rec.stray)
	rec.mu.Unlock()
	if strays != 0 {
		t.Errorf("the handler got %d stray responses in SIP/3.0", strays)
	}
	if n := s.Stats().Unparseable.Load(); n != 2 {
		t.Errorf("%d unparseable, want 2", n)
	}
}

func sinkCodes(s *sinkRec) []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int(nil), s.codes...)
}

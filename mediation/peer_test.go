package mediation_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	gosip "github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
	"github.com/mediation-emulator/mediation/sip"
)

// peer is a scriptable SIP user agent for the call-core tests, playing an
// SBC or a caller whose every message the test writes: it stands on a real
// sipgo stack (built like the server's own sides) listening on loopback
// UDP and TCP, so its retransmissions and transactions behave as a real
// UA's. Every request it receives is recorded; requests other than INVITE
// get 200 unless the test says otherwise.
type peer struct {
	t     *testing.T
	stack *sip.Stack

	mu   sync.Mutex
	reqs []*gosip.Request
	// wire is every message read, in the order the sockets delivered them
	// (parsed in the read filter, before sipgo's transaction layer hands
	// each to a goroutine of its own), and streams the TCP parsers.
	wire     []gosip.Message
	streams  map[string]*gosip.ParserStream
	changed  chan struct{}
	onInvite func(*peerInvite)
	answer   map[gosip.RequestMethod]func(req *gosip.Request, tx gosip.ServerTransaction)

	// over is set, under overMu, when the test ends (the peer's cleanup):
	// a handler goroutine still waiting then (for an ACK, on the test's
	// context, which the test's end cancels) must not report to a test
	// that has completed, which panics the whole package (errorf).
	overMu sync.Mutex
	over   bool
}

// startPeer starts a peer on an ephemeral loopback port; t.Cleanup stops it.
func startPeer(t *testing.T, name string) *peer { return startPeerTLS(t, name, nil) }

// startPeerTLS starts a peer that also speaks TLS (tls: nil for none).
func startPeerTLS(t *testing.T, name string, tls *sip.TLSConfig) *peer {
	t.Helper()
	return startPeerOn(t, name, netip.MustParseAddrPort("127.0.0.1:0"), tls)
}

// startPeerOn starts a peer listening on listen (a loopback address).
func startPeerOn(t *testing.T, name string, listen netip.AddrPort, tls *sip.TLSConfig) *peer {
	t.Helper()
	p := &peer{t: t, changed: make(chan struct{}), streams: map[string]*gosip.ParserStream{},
		answer: map[gosip.RequestMethod]func(*gosip.Request, gosip.ServerTransaction){}}
	stack, err := sip.NewStack(sip.StackConfig{Name: name, Listen: listen,
		UserAgent: "peer-" + name, Log: zerolog.Nop(), ReadFilter: p.tap, TLS: tls})
	if err != nil {
		t.Fatal(err)
	}
	p.stack = stack
	srv := stack.Server
	srv.OnCancel(func(req *gosip.Request, tx gosip.ServerTransaction) {
		// A CANCEL that matched no INVITE (recorded by the tap).
		_ = tx.Respond(gosip.NewResponseFromRequest(req, 481, "", nil))
	})
	srv.OnInvite(func(req *gosip.Request, tx gosip.ServerTransaction) {
		p.record(req)
		if tag, _ := req.To().Params.Get("tag"); tag != "" {
			p.handle(req, tx, func() { p.reply(req, tx, 200, fixtureBody(t, "sbc-answer-pcma.sdp")) })
			<-tx.Done()
			return
		}
		p.mu.Lock()
		h := p.onInvite
		p.mu.Unlock()
		inv := &peerInvite{p: p, req: req, tx: tx, tag: gosip.GenerateTagN(10)}
		if h == nil {
			inv.respond(200, fixtureBody(t, "sbc-answer-pcma.sdp"))
		} else {
			h(inv)
		}
		<-tx.Done() // sipgo terminates a transaction whose handler returned
	})
	for _, m := range []gosip.RequestMethod{gosip.ACK, gosip.BYE, gosip.PRACK, gosip.UPDATE, gosip.OPTIONS, gosip.INFO, gosip.REFER, gosip.NOTIFY, gosip.SUBSCRIBE} {
		srv.OnRequest(m, func(req *gosip.Request, tx gosip.ServerTransaction) {
			p.record(req)
			if req.IsAck() {
				return
			}
			def := func() { p.reply(req, tx, 200, nil) }
			if req.Method == gosip.REFER || req.Method == gosip.NOTIFY || req.Method == gosip.SUBSCRIBE {
				// Handled only where a test says how (p.on): registering
				// sipgo handlers once the stack runs races its reads.
				def = func() { p.reply(req, tx, 405, nil) }
			}
			p.handle(req, tx, def)
		})
	}
	if err := stack.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.overMu.Lock()
		p.over = true
		p.overMu.Unlock()
		_ = stack.Close()
	})
	return p
}

// errorf marks the test failed from a peer's handler goroutine, unless the
// test has ended: the test's end cancels the context such a goroutine
// waits on, and its report would then come after the test completed.
func (p *peer) errorf(format string, args ...any) {
	p.overMu.Lock()
	defer p.overMu.Unlock()
	if !p.over {
		p.t.Errorf(format, args...)
	}
}

var peerParser = gosip.NewParser()

// tap records what the peer reads, in wire order, and passes it on.
func (p *peer) tap(props gosip.TransportReadProps, data []byte) ([]byte, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !strings.EqualFold(props.Transport, "udp") {
		key := props.RemoteAddr.String()
		st := p.streams[key]
		if st == nil {
			st = peerParser.NewSIPStream()
			p.streams[key] = st
		}
		_ = st.ParseSIPStream(data, func(m gosip.Message) { p.tapped(m) })
		return data, nil
	}
	if m, err := peerParser.ParseSIP(data); err == nil {
		p.tapped(m)
	}
	return data, nil
}

// tapped records a message read; a CANCEL is also recorded as a request,
// since sipgo's transaction layer answers it without any handler.
func (p *peer) tapped(m gosip.Message) {
	p.wire = append(p.wire, m)
	if r, ok := m.(*gosip.Request); ok && r.IsCancel() {
		p.reqs = append(p.reqs, r)
		close(p.changed)
		p.changed = make(chan struct{})
	}
}

// responses are the status codes of the responses the peer read for the
// request with this Call-ID and CSeq method, in wire order.
func (p *peer) responses(callID string, method gosip.RequestMethod) []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	var codes []int
	for _, m := range p.wire {
		if r, ok := m.(*gosip.Response); ok && r.CallID() != nil && string(*r.CallID()) == callID && r.CSeq().MethodName == method {
			codes = append(codes, r.StatusCode)
		}
	}
	return codes
}

func (p *peer) handle(req *gosip.Request, tx gosip.ServerTransaction, def func()) {
	p.mu.Lock()
	h := p.answer[req.Method]
	p.mu.Unlock()
	if h != nil {
		h(req, tx)
		return
	}
	def()
}

// on sets how the peer answers requests of method (re-INVITE included for
// INVITE with a To-tag).
func (p *peer) on(method gosip.RequestMethod, h func(req *gosip.Request, tx gosip.ServerTransaction)) {
	p.mu.Lock()
	p.answer[method] = h
	p.mu.Unlock()
}

// invites sets the script for initial INVITEs.
func (p *peer) invites(h func(*peerInvite)) {
	p.mu.Lock()
	p.onInvite = h
	p.mu.Unlock()
}

func (p *peer) record(req *gosip.Request) {
	p.mu.Lock()
	p.reqs = append(p.reqs, req)
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
}

// reply answers req with our Contact.
func (p *peer) reply(req *gosip.Request, tx gosip.ServerTransaction, code int, body []byte, hdrs ...gosip.Header) {
	res := gosip.NewResponseFromRequest(req, code, "", body)
	if body != nil {
		res.AppendHeader(gosip.NewHeader("Content-Type", "application/sdp"))
	}
	contact := p.stack.Contact("", req.Transport())
	res.AppendHeader(&contact)
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	_ = tx.Respond(res)
}

func (p *peer) addr() netip.AddrPort { return p.stack.Addr() }

// wait returns the n-th request (1-based) of method the peer received,
// waiting for it.
func (p *peer) wait(ctx context.Context, method gosip.RequestMethod, n int) *gosip.Request {
	p.t.Helper()
	for {
		p.mu.Lock()
		seen := 0
		for _, r := range p.reqs {
			if r.Method == method {
				if seen++; seen == n {
					p.mu.Unlock()
					return r
				}
			}
		}
		ch := p.changed
		p.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			p.t.Fatalf("%s: no %s #%d (got %s)", p.stack.Name(), method, n, p.methods())
		}
	}
}

// waitSeq returns the first request of method with CSeq number seq the
// peer received, waiting for it. Counting requests is not enough for an
// ACK: on a loaded machine our ACK can come after the peer's 200 is sent
// again, and the copy's ACK is a second one of the same CSeq.
func (p *peer) waitSeq(ctx context.Context, method gosip.RequestMethod, seq uint32) *gosip.Request {
	p.t.Helper()
	for {
		p.mu.Lock()
		for _, r := range p.reqs {
			if r.Method == method && r.CSeq().SeqNo == seq {
				p.mu.Unlock()
				return r
			}
		}
		ch := p.changed
		p.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			p.t.Fatalf("%s: no %s with CSeq %d (got %s)", p.stack.Name(), method, seq, p.methods())
		}
	}
}

// waitLast waits for n requests of method and returns the one with the
// highest CSeq: sipgo hands each request to its handler on a goroutine of
// its own, so the order they were recorded in is not the order sent.
func (p *peer) waitLast(ctx context.Context, method gosip.RequestMethod, n int) *gosip.Request {
	p.t.Helper()
	p.wait(ctx, method, n)
	p.mu.Lock()
	defer p.mu.Unlock()
	var last *gosip.Request
	for _, r := range p.reqs {
		if r.Method == method && (last == nil || r.CSeq().SeqNo > last.CSeq().SeqNo) {
			last = r
		}
	}
	return last
}

// count is how many requests of method the peer received.
func (p *peer) count(method gosip.RequestMethod) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, r := range p.reqs {
		if r.Method == method {
			n++
		}
	}
	return n
}

func (p *peer) methods() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var m []string
	for _, r := range p.reqs {
		m = append(m, string(r.Method))
	}
	return strings.Join(m, " ")
}

// peerInvite is an initial INVITE the peer received, answered by script.
type peerInvite struct {
	p   *peer
	req *gosip.Request
	tx  gosip.ServerTransaction
	tag string
}

// response builds a response with the call's To-tag and our Contact.
func (pi *peerInvite) response(code int, body []byte, hdrs ...gosip.Header) *gosip.Response {
	res := gosip.NewResponseFromRequest(pi.req, code, "", body)
	res.To().Params.Add("tag", pi.tag)
	if body != nil {
		res.AppendHeader(gosip.NewHeader("Content-Type", "application/sdp"))
	}
	if code > 100 && code < 300 {
		contact := pi.p.stack.Contact("sbc", pi.req.Transport())
		res.AppendHeader(&contact)
	}
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	return res
}

func (pi *peerInvite) respond(code int, body []byte, hdrs ...gosip.Header) {
	_ = pi.tx.Respond(pi.response(code, body, hdrs...))
}

// reliable sends a reliable provisional (RFC 3262) with rseq and returns it.
func (pi *peerInvite) reliable(code int, rseq uint32, body []byte) *gosip.Response {
	res := pi.response(code, body, gosip.NewHeader("Require", "100rel"), gosip.NewHeader("RSeq", fmt.Sprint(rseq)))
	_ = pi.tx.Respond(res)
	return res
}

// inDialog builds a request in the dialog of the INVITE the peer answered
// (the peer as UAS of it): to the server's Contact, with the tags swapped.
func (pi *peerInvite) inDialog(method gosip.RequestMethod, seq uint32, body []byte, hdrs ...gosip.Header) *gosip.Request {
	target := pi.req.Contact().Address
	req := gosip.NewRequest(method, target)
	from := &gosip.FromHeader{Address: pi.req.To().Address, Params: gosip.NewParams()}
	from.Params.Add("tag", pi.tag)
	to := &gosip.ToHeader{Address: pi.req.From().Address, Params: pi.req.From().Params.Clone()}
	callID := *pi.req.CallID()
	req.AppendHeader(from)
	req.AppendHeader(to)
	req.AppendHeader(&callID)
	req.AppendHeader(&gosip.CSeqHeader{SeqNo: seq, MethodName: method})
	contact := pi.p.stack.Contact("sbc", pi.req.Transport())
	req.AppendHeader(&contact)
	for _, h := range hdrs {
		req.AppendHeader(h)
	}
	if body != nil {
		req.AppendHeader(gosip.NewHeader("Content-Type", "application/sdp"))
		req.SetBody(body)
	}
	req.SetTransport(pi.req.Transport())
	return req
}

// do sends an in-dialog request and returns its final response.
func (pi *peerInvite) do(ctx context.Context, req *gosip.Request) *gosip.Response {
	pi.p.t.Helper()
	res, err := pi.p.stack.Client(req.Transport()).Do(ctx, req)
	if err != nil {
		pi.p.t.Fatalf("%s in dialog: %v", req.Method, err)
	}
	return res
}

// earlyThenAnswer starts an SBC peer that answers INVITEs with an
// unreliable 183 with SDP, and with 200 once release is closed.
func earlyThenAnswer(ctx context.Context, t *testing.T, release <-chan struct{}) *peer {
	sbc := startPeer(t, "sbc")
	sbc.invites(func(pi *peerInvite) {
		pi.respond(183, fixtureBody(t, "sbc-answer-pcma.sdp"))
		select {
		case <-release:
		case <-ctx.Done():
			return
		}
		pi.respond(200, fixtureBody(t, "sbc-answer-pcma.sdp"))
		pi.waitAck(ctx)
	})
	return sbc
}

// waitAck waits for the ACK of the INVITE's 2xx: an ACK with its Call-ID
// and CSeq number (not any ACK the peer got: a peer may answer several
// INVITEs). false, the test marked failed (Errorf), when none came: it is
// called from the peer's SIP handlers, off the test goroutine, where
// FailNow is not to be used (the handler returns instead); the test
// goroutine uses mustWaitAck.
func (pi *peerInvite) waitAck(ctx context.Context) bool {
	p := pi.p
	p.t.Helper()
	callID, seq := string(*pi.req.CallID()), pi.req.CSeq().SeqNo
	for {
		p.mu.Lock()
		for _, r := range p.reqs {
			if r.IsAck() && string(*r.CallID()) == callID && r.CSeq().SeqNo == seq {
				p.mu.Unlock()
				return true
			}
		}
		ch := p.changed
		p.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			p.errorf("%s: no ACK of the INVITE %s/%d (got %s)", p.stack.Name(), callID, seq, p.methods())
			return false
		}
	}
}

// mustWaitAck is waitAck on the test goroutine: the test stops there.
func (pi *peerInvite) mustWaitAck(ctx context.Context) {
	pi.p.t.Helper()
	if !pi.waitAck(ctx) {
		pi.p.t.FailNow()
	}
}

// outCall is a call the peer placed as a caller.
type outCall struct {
	p   *peer
	inv *gosip.Request
	// provisionals and final are the responses received.
	provisionals []*gosip.Response
	final        *gosip.Response
	d            *sipgo.DialogClientSession
}

// call sends an INVITE to target from the peer.
func (p *peer) call(ctx context.Context, target netip.AddrPort, transport string, body []byte, hdrs ...gosip.Header) *outCall {
	p.t.Helper()
	return p.callNumber(ctx, target, transport, "+15550100", body, hdrs...)
}

// callNumber is call to number.
func (p *peer) callNumber(ctx context.Context, target netip.AddrPort, transport, number string, body []byte, hdrs ...gosip.Header) *outCall {
	p.t.Helper()
	inv := request(gosip.INVITE, target.String(), transport, body, hdrs...)
	inv.Recipient.User = number
	return p.dial(ctx, inv, transport, gosip.Uri{Scheme: "sip", User: "+15550199", Host: p.stack.Host()})
}

// dial sends inv, from from, with the peer's Contact, as a dialog of the
// peer's.
func (p *peer) dial(ctx context.Context, inv *gosip.Request, transport string, from gosip.Uri) *outCall {
	p.t.Helper()
	inv.RemoveHeader("Contact")
	contact := p.stack.Contact("caller", transport)
	inv.AppendHeader(&contact)
	f := &gosip.FromHeader{Address: from, Params: gosip.NewParams()}
	f.Params.Add("tag", gosip.GenerateTagN(10))
	inv.AppendHeader(f)
	dua := &sipgo.DialogUA{Client: p.stack.Client(transport), ContactHDR: contact}
	d, err := dua.WriteInvite(ctx, inv)
	if err != nil {
		p.t.Fatalf("INVITE: %v", err)
	}
	return &outCall{p: p, inv: inv, d: d}
}

// answer waits for the final response, handing each provisional to each
// (nil: none).
func (oc *outCall) answer(ctx context.Context, each func(*gosip.Response)) *gosip.Response {
	oc.p.t.Helper()
	err := oc.d.WaitAnswer(ctx, sipgo.AnswerOptions{OnResponse: func(res *gosip.Response) error {
		if res.IsProvisional() {
			oc.provisionals = append(oc.provisionals, res)
			if each != nil {
				each(res)
			}
		}
		return nil
	}})
	var rejected *sipgo.ErrDialogResponse
	switch {
	case err == nil:
		oc.final = oc.d.InviteResponse
	case errors.As(err, &rejected):
		oc.final = rejected.Res
	default:
		oc.p.t.Fatalf("no final response: %v", err)
	}
	return oc.final
}

// serve runs a whole lab server (mediationtest.Serve) whose gateway trunk
// is the peer sbc, with configure applied last.
func serveTo(t *testing.T, sbc netip.AddrPort, transport string, configure func(*mediation.Config)) *mediation.Server {
	t.Helper()
	cfg := labConfig(sbc, transport)
	if configure != nil {
		configure(cfg)
	}
	return mediationtest.Serve(t, cfg, testLog(t))
}

// runServer runs a server on cfg that the test stops itself: stop ends Run
// (a graceful shutdown) and returns its error.
func runServer(t *testing.T, cfg *mediation.Config) (srv *mediation.Server, stop func() error) {
	t.Helper()
	srv, err := mediation.NewServer(cfg, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	select {
	case <-srv.Ready():
	case err := <-done:
		cancel()
		t.Fatal(err)
	}
	var once sync.Once
	var runErr error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(30 * time.Second):
				runErr = fmt.Errorf("server did not stop in 30s")
			}
		})
		return runErr
	}
	t.Cleanup(func() { _ = stop() })
	return srv, stop
}

// labConfig is the default config on ephemeral loopback ports with the
// gateway trunk at sbc and a short T1.
func labConfig(sbc netip.AddrPort, transport string) *mediation.Config {
	cfg := mediation.DefaultConfig()
	cfg.Edge.Listen, cfg.GatewayListen, cfg.HTTPListen = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.Admin.Listen = "127.0.0.1:0"
	cfg.Gateways[0].Address, cfg.Gateways[0].Transport = sbc.String(), transport
	cfg.SIP.T1 = 20 * time.Millisecond
	return cfg
}

// testLog is the server log of a test: warnings, or the level in
// MEDIATION_TEST_LOG (debug shows the whole SIP trace of a failing test).
func testLog(t *testing.T) zerolog.Logger {
	level := zerolog.WarnLevel
	if l, err := zerolog.ParseLevel(os.Getenv("MEDIATION_TEST_LOG")); err == nil && l != zerolog.NoLevel {
		level = l
	}
	return zerolog.New(zerolog.NewTestWriter(t)).Level(level).With().Timestamp().Logger()
}

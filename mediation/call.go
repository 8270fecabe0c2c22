package mediation

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/netip"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gosip "github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"

	"github.com/mediation-emulator/mediation/gateway"
	"github.com/mediation-emulator/mediation/mediation/relay"
	"github.com/mediation-emulator/mediation/sip"
)

// direction of a call, named as CCE's counters name them.
type direction int

const (
	// outbound: a Skype for Business client calls the PSTN (edge -> gateway).
	outbound direction = iota
	// inbound: the PSTN calls a client (gateway -> edge).
	inbound
)

func (d direction) String() string {
	if d == inbound {
		return "inbound"
	}
	return "outbound"
}

// callDeps is what a call needs of its server, and nothing more: where to
// count, record and register itself, the sides it talks through, and the
// settings in force.
type callDeps struct {
	log      zerolog.Logger
	metrics  *metrics
	records  recordSink
	index    callIndex
	settings func() BypassSettings
	alloc    *relay.Allocator
	gateways *gateway.Table
	edge, gw *sip.Side
	// gwTrust is the gateway side's trust list: a call pins its trunk's
	// address there (trunkdns.go).
	gwTrust *sip.Trust
	// edgePeer and edgeTransport are where inbound calls go.
	edgePeer      netip.AddrPort
	edgeTransport string
	// edgeCalls are the edge side's call settings, trunks each trunk's
	// call settings and header policy by name.
	edgeCalls CallSettings
	trunks    map[string]trunkPolicy
	sip       SIPConfig
	media     MediaConfig
	// mediaTap, when set, sees the anchored calls' RTP and RTCP (pcap).
	mediaTap relay.PacketTap
	// failover is gateway_failover; trunkMetrics count per trunk.
	failover     FailoverConfig
	trunkMetrics *trunkMetrics
	// lateAnswer cleans up a 2xx that arrives for a call already over:
	// its BYE's CSeq above seq, our last in that dialog (latedialogs.go).
	lateAnswer func(side *sip.Side, invite *gosip.Request, res *gosip.Response, seq uint32)
	// hungUp are the dialogs late 2xx were hung up in (latedialogs.go).
	hungUp *hungUpDialogs
	// ackLate ACKs again a retransmitted 2xx that lateAnswer hung up.
	ackLate func(side *sip.Side, invite *gosip.Request, res *gosip.Response)
	// workers run the calls' event drains.
	workers *workers
	// noPortsLog rate-limits the warning of calls refused for want of
	// media ports (logNoPorts).
	noPortsLog *sip.Limiter
	// foreignLog rate-limits the warning of in-dialog requests from
	// another peer than the call's (dialogtrust.go).
	foreignLog *sip.Limiter
	// forkLog rate-limits the warning of 2xx from excess forks
	// (hangUpFork).
	forkLog *sip.Limiter
	// challengeLog rate-limits the warning of a callee's 401 or 407 to
	// our INVITE (logChallenge).
	challengeLog *sip.Limiter
}

// recordSink takes a call's quality record when it ends.
type recordSink interface{ write(Record) error }

// callIndex is the call registry as a call sees it.
type callIndex interface {
	addDialog(c *call, callID, localTag string)
	// byDialog is the call of a dialog by its Call-ID and our tag (an
	// attended transfer's Replaces names another call).
	byDialog(callID, localTag string) *call
	remove(c *call)
	// rekey replaces the strings of c's keys by the equal ones find
	// gives (settle.go).
	rekey(c *call, find func(string) string)
}

// call is one B2BUA call: the caller's dialog (we are its UAS) and the
// callee's (we are its UAC). Everything that happens to the call (requests
// and responses of either leg, timers, the media timeout, shutdown) is an
// event on its inbox, handled one at a time by its own goroutine, in the
// order the events arrived; nothing of the call is touched elsewhere, and
// nothing holds a lock across a network write.
type call struct {
	id    string
	dir   direction
	log   callLog
	deps  *callDeps
	start time.Time
	trunk gateway.Trunk
	// pins are the trunk addresses the call keeps trusted (pinPeer).
	pins []netip.Addr
	// reason are the Reason headers of the CANCEL or BYE that ended the
	// call (reason.go), passed on in our CANCEL or BYE.
	reason []gosip.Header
	// next are the trunks an outbound call fails over to, in order; tried
	// the names of those it went to (failover.go).
	next  []gateway.Trunk
	tried []string
	box   inbox
	// sink is what the call's client transactions report to (callSink).
	sink *callSink
	// forks are the callee's early dialogs by its To-tag: inbound, each
	// relayed to the gateway as an early dialog of its own; outbound,
	// each fork's latest SDP (forks.go).
	forks map[string]*fork

	state  callState
	caller *callerLeg
	callee *calleeLeg
	media  mediaPlan

	// timers are the call's armed timers (timers.go), out our requests in
	// flight by transaction (leg.go). Slices rather than maps: a call has
	// a few of each at a time, and a map keeps its header and buckets (two
	// small objects that outlive the set-up) even when empty.
	timers    []armedTimer
	nextTimer timerID
	out       []txOut
	// offer is the re-offer (re-INVITE or UPDATE) in progress, if any.
	offer *relayedOffer
	// xfer is the transfer we perform for a REFER, if any (transfer.go).
	xfer *transfer
	// extra is what few calls ever need (callExtra), nil before.
	extra *callExtra
	// refers are the REFERs relayed whose NOTIFYs may come back
	// (refer.go), nil before the first.
	refers *referSubs

	// For the call record.
	from, to   string
	answerTime time.Time
	// endAfter is when, after start, the call's end began (its first
	// BYE, CANCEL or final response): the record's end time, not the
	// moment the last BYE was answered or given up on.
	endAfter       time.Duration
	undelivered    []string
	endReason      string
	endingDeadline timerID
	// settleTimer lets the set-up messages go (settle.go).
	settleTimer timerID

	// Registry bookkeeping, guarded by the registry's lock.
	keys, dialogKeys []legKey
	callIDs          []string // of either leg, as registered, each once
	// legs holds the caller's leg and the first attempt's callee leg, in
	// the call's allocation rather than in two of their own (a failover's
	// callee leg gets its own: the abandoned one may still be referenced).
	legs struct {
		caller callerLeg
		callee calleeLeg
	}
	// regFirst holds the bookkeeping of a call with one attempt (one
	// INVITE in, one out, one dialog each), so that the slices above need
	// no allocation of their own (registry.add sets them to it): small
	// objects that live as long as the call keep whole heap spans of the
	// set-up's garbage in use.
	regFirst struct {
		keys       [1]legKey
		dialogKeys [2]legKey
		callIDs    [2]string
	}
	// firstTimers and firstOut are the first backing arrays of timers and
	// out, and firstInv the first INVITE's outgoing of the first callee
	// leg, in the call's allocation (no set-up needs more at a time).
	firstTimers [4]armedTimer
	firstOut    [2]txOut
	firstInv    outgoing
	// bypassCounted: the call is in the bypassed calls' gauge; usedInv:
	// firstInv is taken; repointing: a transfer's re-INVITE of the PSTN
	// party is waiting to go or in flight (repointGateway). Together at
	// the end, where a flag between two words would take a word of its
	// own.
	bypassCounted, usedInv, repointing bool
	// lateForks counts the forks hangUpFork sent BYE that c.forks does
	// not remember (beyond maxEarlyDialogs, or once settled), up to
	// maxEarlyDialogs: later ones are ACKed only.
	lateForks uint8
	// done is over once the call has ended; final is its record by then.
	done  doneSignal
	final *Record
}

// callExtra is what few calls ever need: the legs a transfer released,
// the actions waiting for a dialog to be idle. Behind one pointer: most
// calls are never transferred, and a slice header would take the call to
// the next size class (TestLongLivedSizeClasses).
type callExtra struct {
	// released are the transferors' old edge legs after transfers we
	// performed (transfer.go), oldest first, at most maxReleasedLegs.
	released []*leg
	// idle are the actions waiting for no INVITE exchange to be in
	// progress in their leg's dialog (whenIdle), in the order they came.
	idle []idleWait
}

// extras is c.extra, made on first use.
func (c *call) extras() *callExtra {
	if c.extra == nil {
		c.extra = &callExtra{}
	}
	return c.extra
}

// event is anything a call's goroutine handles.
type event any

// Events besides evTimer (timers.go).
type (
	// evStart is the caller's INVITE that created the call.
	evStart struct{}
	// evRequest is a request from either leg's peer.
	evRequest struct{ in *sip.Incoming }
	// evResponse is a response to one of our requests.
	evResponse struct {
		tx  *sip.ClientTx
		res *gosip.Response
	}
	// evTxDone is the end of one of our client transactions.
	evTxDone struct {
		tx  *sip.ClientTx
		err error
	}
	// evStray is a response that matched no transaction any more (a 2xx
	// retransmission).
	evStray struct {
		side *sip.Side
		res  *gosip.Response
	}
	// evMediaTimeout is the relay's report of a silent leg.
	evMediaTimeout struct{ side relay.Side }
	// evShutdown ends the call for a server shutdown, or for why when set
	// (an operator's hang-up).
	evShutdown struct{ why string }
	// evQuery runs fn on the call's goroutine (snapshots, tests).
	evQuery struct {
		fn   func()
		done chan struct{}
	}
)

func newCallID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// newCall builds the call of a caller's initial INVITE; id is the one its
// trace already carries. It only sets up state: the call's goroutine (run)
// does the work, starting with evStart, which is queued here so that it
// comes before anything else of the call.
func newCall(deps *callDeps, dir direction, in *sip.Incoming, id string) *call {
	req := in.Req
	c := &call{
		id: id, dir: dir, deps: deps, start: time.Now(),
		from: sip.UserOf(req.From().Address), to: sip.UserOf(req.To().Address),
	}
	callerSide, calleeSide := relay.Edge, relay.Gateway
	if dir == inbound {
		callerSide, calleeSide = relay.Gateway, relay.Edge
	}
	c.legs.caller = callerLeg{leg: leg{role: "caller", side: in.Side, media: callerSide}, invite: in, tag: gosip.GenerateTagN(16),
		branch: strings.Clone(branch(req)), seq: req.CSeq().SeqNo} // not a piece of the INVITE's text, which settle lets go
	c.legs.callee = calleeLeg{leg: leg{role: "callee", side: deps.sideFor(calleeSide), media: calleeSide}}
	c.caller, c.callee = &c.legs.caller, &c.legs.callee
	c.timers, c.out = c.firstTimers[:0], c.firstOut[:0]
	// The caller's dialog exists from our first response on: its tag is ours.
	c.caller.dialog = sip.NewUASDialog(in, c.caller.tag)
	c.relog("")
	c.sink = newCallSink(c)
	c.box.push(evStart{})
	return c
}

// relog (re)sets the fields of the call's log: its id, direction and
// caller's Call-ID, then the trunk once chosen and the Call-ID of our
// INVITE (bCallID, "" for none yet). Set anew rather than added to, so that
// a field never appears twice (a failover changes both); the media plan
// logs through it.
func (c *call) relog(bCallID string) {
	c.log = callLog{base: &c.deps.log, id: c.id, dir: c.dir, aCallID: c.caller.dialog.CallID,
		gateway: c.trunk.Name, bCallID: bCallID}
}

// sideFor is the sip side of a media side.
func (d *callDeps) sideFor(s relay.Side) *sip.Side {
	if s == relay.Edge {
		return d.edge
	}
	return d.gw
}

// legOf is the leg whose peer is on side, nil if neither (never).
func (c *call) legOf(side *sip.Side) *leg {
	switch side {
	case c.caller.side:
		return &c.caller.leg
	case c.callee.side:
		return &c.callee.leg
	}
	return nil
}

// other is the leg that is not l.
func (c *call) other(l *leg) *leg {
	if l == &c.caller.leg {
		return &c.callee.leg
	}
	return &c.caller.leg
}

// push queues an event; false when the call no longer takes any.
func (c *call) push(e event) bool { return c.box.push(e) }

// callSink is what the call's client transactions report to. They
// outlive the call (sipgo keeps an answered INVITE's for Timer M, a BYE's
// for Timer K, up to 32 s), and holding the call itself they would keep
// all of it (messages, SDP, media plan) alive that long: at a high call
// rate that is most of the heap. The call lets go of its sink when it
// ends (release); what still comes is handled as for an ended call.
type callSink struct {
	c    atomic.Pointer[call]
	deps *callDeps
	// abandoned are the INVITEs the call gave up on (abandonInvite) whose
	// transactions are not over; armed says there are any, so that the
	// responses of every other call pass without the lock.
	armed     atomic.Bool
	mu        sync.Mutex
	abandoned map[*sip.ClientTx]*abandonedInvite
}

// abandonedInvite is what is still done for an INVITE given up on: its
// reliable provisionals PRACKed (RFC 3262 §4), in its early dialogs, and,
// when the call ended before any provisional came, its CANCEL at the first
// (RFC 3261 §9.1).
type abandonedInvite struct {
	cancelDue bool
	reason    []gosip.Header // for the CANCEL (reason.go)
	rel       sip.ReliableReceivers
	early     map[string]*sip.Dialog // by the peer's tag; the sink's own copies
}

func newCallSink(c *call) *callSink {
	s := &callSink{deps: c.deps}
	s.c.Store(c)
	return s
}

// OnResponse implements sip.ResponseSink.
func (s *callSink) OnResponse(tx *sip.ClientTx, res *gosip.Response) {
	if res.IsProvisional() && s.armed.Load() {
		s.onProvisional(tx, res)
	}
	if h := testHookSinkResponse.Load(); h != nil {
		(*h)(s, res)
	}
	if c := s.c.Load(); c != nil && c.push(evResponse{tx, res}) {
		return
	}
	// The call is over (or its queue full). It may have ended since the
	// look above, giving up on tx before any provisional had reached it
	// (the caller's CANCEL crossing this first provisional): the CANCEL
	// armed for it goes now. onProvisional acts once.
	switch {
	case res.IsProvisional() && s.armed.Load():
		s.onProvisional(tx, res)
	case res.IsSuccess() && tx.Req.IsInvite():
		// The call is over but its INVITE was answered after all.
		tag, _ := res.To().Params.Get("tag")
		s.deps.lateAnswer(tx.Side(), tx.Req, res, s.earlySeq(tx, tag))
	}
}

// testHookSinkResponse, set by a test only, runs as a response reaches a
// call's sink, between its two looks for an abandoned INVITE: a test holds
// a provisional there until the call has ended.
var testHookSinkResponse atomic.Pointer[func(*callSink, *gosip.Response)]

// OnDone implements sip.ResponseSink.
func (s *callSink) OnDone(tx *sip.ClientTx, err error) {
	if s.armed.Load() {
		s.forget(tx)
	}
	if c := s.c.Load(); c != nil {
		c.push(evTxDone{tx, err})
	}
}

// abandon registers tx, an INVITE the call gives up on, with the reliable
// provisionals PRACKed so far (rel) and their early dialogs, which the
// sink copies: the call's own go on being the call's.
func (s *callSink) abandon(tx *sip.ClientTx, rel sip.ReliableReceivers, early map[string]*sip.Dialog, reason []gosip.Header) {
	a := &abandonedInvite{rel: rel, early: make(map[string]*sip.Dialog, len(early)), reason: reason}
	for tag, d := range early {
		cp := *d
		a.early[tag] = &cp
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.abandoned == nil {
		s.abandoned = map[*sip.ClientTx]*abandonedInvite{}
	}
	if old := s.abandoned[tx]; old != nil {
		a.cancelDue = old.cancelDue
	}
	s.abandoned[tx] = a
	s.armed.Store(true)
}

// cancelOnProvisional arms the CANCEL of tx, an abandoned INVITE of the
// call that has had no response yet, for its first provisional (RFC 3261
// §9.1).
func (s *callSink) cancelOnProvisional(tx *sip.ClientTx) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.abandoned == nil {
		s.abandoned = map[*sip.ClientTx]*abandonedInvite{}
	}
	a := s.abandoned[tx]
	if a == nil {
		a = &abandonedInvite{}
		s.abandoned[tx] = a
	}
	a.cancelDue = true
	s.armed.Store(true)
}

// onProvisional handles a provisional of tx, if tx is an abandoned INVITE:
// a reliable one not PRACKed yet is PRACKed, and the CANCEL waiting for a
// provisional goes. Both leave from a goroutine of their own, not from
// the one that reads the side's socket: over TCP they may wait for the
// connection. It may be called more than once for the same response (by
// the sink as it is read, by the call as it handles it): it acts once.
func (s *callSink) onProvisional(tx *sip.ClientTx, res *gosip.Response) {
	s.mu.Lock()
	a := s.abandoned[tx]
	if a == nil {
		s.mu.Unlock()
		return
	}
	var d *sip.Dialog
	var prack *gosip.Request
	tag, _ := res.To().Params.Get("tag")
	if rseq, _, _ := sip.RSeq(res); sip.IsReliable(res) && a.rel.Accept(tag, rseq) {
		if d = a.early[tag]; d == nil {
			d = sip.NewUACDialog(tx.Side(), tx.Req, res)
			if a.early == nil {
				a.early = map[string]*sip.Dialog{}
			}
			a.early[tag] = d
		}
		prack = d.NewRequest(gosip.PRACK, 0, nil, nil)
		prack.AppendHeader(gosip.NewHeader("RAck", sip.RAck{RSeq: rseq, CSeq: tx.Req.CSeq().SeqNo, Method: gosip.INVITE}.String()))
	}
	cancel, reason := a.cancelDue, a.reason
	a.cancelDue = false
	s.mu.Unlock()
	if prack == nil && !cancel {
		return
	}
	go func() {
		if prack != nil {
			s.prack(tx, d, prack)
		}
		if cancel {
			s.cancel(tx, reason)
		}
	}()
}

// forget drops tx, an INVITE whose transaction is over or answered.
func (s *callSink) forget(tx *sip.ClientTx) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.abandoned, tx)
}

// prack sends the PRACK req of a reliable provisional of tx, an abandoned
// INVITE, in its early dialog d; its answer is not waited for.
func (s *callSink) prack(tx *sip.ClientTx, d *sip.Dialog, req *gosip.Request) {
	ctx, done := context.WithTimeout(context.Background(), s.deps.sip.Timeout())
	defer done()
	if _, _, err := d.Send(ctx, req, sip.Discard); err != nil {
		s.deps.log.Debug().Err(err).Str("sip_call_id", string(*tx.Req.CallID())).Msg("PRACK of an abandoned INVITE's reliable provisional not sent")
		return
	}
	s.deps.log.Debug().Str("sip_call_id", string(*tx.Req.CallID())).Msg("reliable provisional of an abandoned INVITE PRACKed")
}

// cancel sends the CANCEL of tx, whose call may be over: its final
// response ends the transaction (sipgo ACKs a 487; a 2xx is a late
// answer, ACKed and hung up).
func (s *callSink) cancel(tx *sip.ClientTx, reason []gosip.Header) {
	ctx, done := context.WithTimeout(context.Background(), s.deps.sip.Timeout())
	defer done()
	if err := tx.Cancel(ctx, clones(reason)...); err != nil {
		s.deps.log.Debug().Err(err).Str("sip_call_id", string(*tx.Req.CallID())).Msg("CANCEL after the call ended not sent")
		return
	}
	s.deps.log.Debug().Str("sip_call_id", string(*tx.Req.CallID())).Msg("INVITE of an ended call CANCELled at its first provisional")
}

// release drops the sink's hold on the call.
func (s *callSink) release() { s.c.Store(nil) }

// run takes the call's events in order until none is left (the next event
// runs it again, on a new goroutine: see inbox) or the call has ended.
func (c *call) run() {
	for {
		evs := c.box.take()
		if len(evs) == 0 {
			return
		}
		for i, ev := range evs {
			c.handle(ev)
			if c.state == stateEnded {
				// What came after the end in this batch is drained as
				// what is still queued is.
				c.drainClosed(evs[i+1:])
				c.sink.release()
				return
			}
		}
	}
}

// drainClosed answers what was left when the call ended (rest, the
// batch's events after the end, then what is still queued): a request gets
// its answer; the provisional of an INVITE we gave up on gets its PRACK
// if it is reliable and the CANCEL if that was waiting for one (the sink's
// abandoned); and a 2xx to an
// INVITE of ours that raced the end (the callee answering as we gave up)
// is ACKed and hung up, as it would be had it come a moment later.
func (c *call) drainClosed(rest []event) {
	for _, ev := range slices.Concat(rest, c.box.close()) {
		switch e := ev.(type) {
		case evRequest:
			goneAnswer(e.in)
		case evQuery:
			close(e.done)
		case evAttended:
			goneAnswer(e.in)
		case evResponse:
			switch {
			case e.res.IsProvisional():
				c.sink.onProvisional(e.tx, e.res)
			case e.res.IsSuccess() && e.tx.Req.IsInvite():
				tag, _ := e.res.To().Params.Get("tag")
				seq := max(c.sink.earlySeq(e.tx, tag), c.earlySeq(tag))
				c.sink.forget(e.tx)
				c.deps.lateAnswer(e.tx.Side(), e.tx.Req, e.res, seq)
			}
		case evStray:
			if cseq := e.res.CSeq(); e.res.IsSuccess() && cseq != nil && cseq.MethodName == gosip.INVITE {
				c.lateCalleeAnswer(e.side, e.res)
			}
		}
	}
}

// handle runs one event. A bug in it is logged with its stack, the request
// (if any) answered 500, and the call ended: it never takes the server down.
func (c *call) handle(ev event) {
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		c.log.Error().Interface("panic", r).Str("stack", string(debug.Stack())).
			Str("event", fmt.Sprintf("%T", ev)).Msg("call event handler panicked")
		var in *sip.Incoming
		switch e := ev.(type) {
		case evRequest:
			in = e.in
		case evAttended:
			in = e.in
		}
		if in != nil && in.Answerable() {
			_ = in.Reply(500, "Server Internal Error", "")
		}
		if c.state != stateEnded {
			c.finish("internal_error")
		}
	}()
	switch e := ev.(type) {
	case evStart:
		c.onStart()
	case evRequest:
		c.onRequest(e.in)
	case evResponse:
		c.onResponse(e.tx, e.res)
	case evTxDone:
		c.onTxDone(e.tx, e.err)
	case evStray:
		c.onStray(e.side, e.res)
	case evTimer:
		c.onTimer(e)
	case evMediaTimeout:
		c.onMediaTimeout(e.side)
	case evShutdown:
		c.onShutdown(e.why)
	case evQuery:
		// Closed even if fn panics: the querier waits for nothing else
		// (query).
		defer close(e.done)
		e.fn()
	case evAttended:
		c.onAttended(e)
	}
	// Whatever the event did, a peer's refresh pending at its session's
	// expiry may have had its final response now, and an INVITE exchange
	// that an action waits for may have ended.
	c.expireAfterRefresh()
	c.runIdle()
}

// query runs fn on the call's goroutine and waits for it, at most wait;
// false when the call ended or was too busy. It does not wait on c.done:
// that would make the call's done channel for every query (GET /calls and
// the web UI query every live call), which doneSignal exists to avoid. A
// query queued as the call ends is released all the same: the end drains
// the queue and closes each query's done without running it
// (drainClosed), and a query pushed after that is refused by the closed
// inbox.
func (c *call) query(fn func(), wait time.Duration) bool {
	done := make(chan struct{})
	ran := false
	if !c.push(evQuery{fn: func() { fn(); ran = true }, done: done}) {
		return false
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-done:
		return ran
	case <-t.C:
		return false
	}
}

// relayOptions implements relayOptioner: the call's relay latches as
// configured, reports silence to the call, shows its packets to the
// capture and its delay to the metrics.
func (c *call) relayOptions() []relay.SessionOption {
	opts := []relay.SessionOption{
		relay.WithLatching(c.deps.media.LatchingEnabled()),
		relay.WithMediaTimeout(c.deps.media.Timeout, c.onMediaTimeoutEvent),
		relay.WithPacketTap(c.deps.mediaTap),
	}
	if c.deps.metrics != nil {
		opts = append(opts, relay.WithDelayObserver(c.deps.metrics.observeRelayDelay),
			relay.WithDropObserver(c.deps.metrics.observeRelayDrop))
	}
	return opts
}

// holdTimeout implements relayOptioner: the trunk's rtcp_calls_on_hold
// (true, the default, for a trunk no longer configured).
func (c *call) holdTimeout() bool {
	p, ok := c.deps.trunks[c.trunk.Name]
	return !ok || p.holdTimeout
}

// onMediaTimeoutEvent is the relay's callback: a leg has been silent (no
// RTP, no RTCP) for media.timeout.
func (c *call) onMediaTimeoutEvent(side relay.Side) { c.push(evMediaTimeout{side}) }

// onMediaTimeout: CCE ends such calls with BYE on both legs.
func (c *call) onMediaTimeout(side relay.Side) {
	if c.state != stateAnswered {
		return
	}
	ev := c.log.Warn().Str("leg", side.String()).Int64("timeout_ms", c.deps.media.Timeout.Milliseconds()).Bool("hold", c.media.onHold)
	if r := c.media.relay; r != nil {
		// Packets that arrived but were unusable (wrong SRTP keys, say)
		// tell a silent peer from a misconfigured one.
		d := r.Stats().Side(side).Dropped
		ev = ev.Uint64("packets_dropped", d.Total()).Uint64("packets_decrypt_failed", d.Decrypt)
	}
	ev.Msg("no usable RTP or RTCP received: ending the call")
	c.deps.metrics.mediaTimeouts.WithLabelValues(c.dir.String()).Inc()
	c.hangup(nil, "media timeout")
}

// onShutdown ends the call for a server shutdown: BYE on both legs of an
// answered call, CANCEL and 503 for one still ringing.
func (c *call) onShutdown(why string) {
	if why == "" {
		why = "shutdown"
	}
	switch {
	case c.state == stateAnswered:
		c.hangup(nil, why)
	case c.live():
		c.failSetup(setupError{503, "Service Unavailable", why})
	}
}

// goneAnswer answers a request for a call that has just ended.
func goneAnswer(in *sip.Incoming) {
	if !in.Answerable() {
		return
	}
	if in.Req.Method == gosip.BYE {
		// The call is over anyway: the peer need not retry.
		_ = in.Reply(200, "OK", "")
		return
	}
	_ = in.Reply(481, "Call/Transaction Does Not Exist", "")
}

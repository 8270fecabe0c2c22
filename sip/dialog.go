package sip

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	gosip "github.com/emiago/sipgo/sip"
)

// Dialog is one dialog of a call as RFC 3261 §12 keeps it: Call-ID, tags,
// both CSeq counters, the remote target and the route set, plus the flow
// (the address the peer's messages come from) so that requests to a TCP
// peer reuse its connection while it is open. It is not safe for
// concurrent use: it belongs to its call's goroutine.
type Dialog struct {
	Side   *Side
	CallID string
	// LocalTag is ours, RemoteTag the peer's.
	LocalTag, RemoteTag string
	// Local and Remote are the From and To of the requests we send in the
	// dialog, without tags.
	Local, Remote gosip.Uri
	// LocalName is our display name in From.
	LocalName string
	// LocalSeq is the CSeq of our last request; RemoteSeq the peer's (0:
	// none yet).
	LocalSeq, RemoteSeq uint32
	// RemoteTarget is the peer's Contact.
	RemoteTarget gosip.Uri
	// RouteSet is the Record-Route of the dialog, in the order requests
	// follow it.
	RouteSet []gosip.Uri
	// UAC: we sent the INVITE that made the dialog, so its Call-ID is
	// ours (RFC 3261 §14.1 times a 491's retry by who owns it).
	UAC bool
	// Transport is the dialog's transport ("UDP" or "TCP").
	Transport string
	// Flow is the source IP:PORT of the peer's latest message.
	Flow string
	// Origin is the IP the dialog was set up with: the source of the
	// INVITE (we are its UAS) or of the response that created it (UAC).
	// Unlike Flow, nothing the peer sends later moves it.
	Origin netip.Addr
	// Allow lists the methods the peer said it allows ("" unknown). (Its
	// Supported list is not kept: nothing read it, and with it a dialog
	// took the 704-byte size class, not the 640-byte one; README
	// "Performance".)
	Allow []string
	// NoUpdate: the peer refused an UPDATE of ours as a method it does
	// not do (405 without UPDATE in its Allow, 501), whatever its Allow
	// says: Allows(UPDATE) is false for the rest of the dialog.
	NoUpdate bool
	// flowFirst: a request to this target, another port of the flow's
	// IP, could not get through while the flow was open and then went on
	// the flow: later requests to that target take the flow first while
	// it is open, the target after, so that each does not wait on that
	// port again (an SBC's port that takes TCP and never finishes a TLS
	// handshake). It is that target's port (the IP being the flow's; 0:
	// none), not a string, to keep Dialog in its size class: a target
	// refresh or route naming another port is tried first again.
	flowFirst uint16
}

// NewUASDialog is the dialog of an INVITE we received (we are its UAS):
// localTag is the tag of our responses.
func NewUASDialog(in *Incoming, localTag string) *Dialog {
	req := in.Req
	d := &Dialog{
		Side: in.Side, CallID: string(*req.CallID()), LocalTag: localTag,
		Local: req.To().Address, Remote: req.From().Address,
		LocalSeq: uint32(rand.IntN(1<<15) + 1), RemoteSeq: req.CSeq().SeqNo,
		Transport: transportName(req.Transport()), Flow: req.Source(), Origin: SourceIP(req),
	}
	d.RemoteTag, _ = req.From().Params.Get("tag")
	if c := req.Contact(); c != nil {
		d.RemoteTarget = c.Address
	}
	for _, h := range HeadersNamed(req, "Record-Route") {
		if rr, ok := h.(*gosip.RecordRouteHeader); ok {
			d.RouteSet = append(d.RouteSet, rr.Address)
		}
	}
	d.learn(req)
	return d
}

// NewUACDialog is the dialog created by a response with a To-tag (18x or
// 2xx) to an INVITE we sent. inv may be nil when the INVITE is gone (a late
// 2xx): the response's own headers say what the dialog needs.
func NewUACDialog(side *Side, inv *gosip.Request, res *gosip.Response) *Dialog {
	if inv == nil {
		inv = inviteOf(res)
	}
	d := &Dialog{
		Side: side, CallID: string(*inv.CallID()),
		Local: inv.From().Address, LocalName: inv.From().DisplayName, Remote: inv.To().Address,
		LocalSeq: inv.CSeq().SeqNo, RemoteTarget: inv.Recipient, UAC: true,
		Transport: transportName(inv.Transport()), Flow: res.Source(), Origin: SourceIP(res),
	}
	d.LocalTag, _ = inv.From().Params.Get("tag")
	d.RemoteTag, _ = res.To().Params.Get("tag")
	d.Refresh(res)
	d.RouteSet = uacRouteSet(res)
	d.learn(res)
	return d
}

// uacRouteSet is the route set of a dialog of ours that res (a response
// to our INVITE) makes or confirms: its Record-Route, in reverse order
// (RFC 3261 §12.1.2).
func uacRouteSet(res *gosip.Response) []gosip.Uri {
	var set []gosip.Uri
	rrs := HeadersNamed(res, "Record-Route")
	for i := len(rrs) - 1; i >= 0; i-- {
		if rr, ok := rrs[i].(*gosip.RecordRouteHeader); ok {
			set = append(set, rr.Address)
		}
	}
	return set
}

// Confirm takes res, the 2xx of our INVITE in the early dialog d made of
// an 18x: RFC 3261 §13.2.2.4 has the route set recomputed from the 2xx
// (a proxy or a UAS may record-route only in the 2xx, as RFC 2543 ones
// did, or otherwise than in the 18x), and the 2xx's Contact is the remote
// target. A 2xx without Record-Route leaves no route set.
func (d *Dialog) Confirm(res *gosip.Response) {
	d.Refresh(res)
	d.RouteSet = uacRouteSet(res)
	d.learn(res)
}

// inviteOf rebuilds from a response the parts of its INVITE a dialog is
// made of (From, To, Call-ID, CSeq, transport); the Request-URI is the
// response's Contact.
func inviteOf(res *gosip.Response) *gosip.Request {
	var ruri gosip.Uri
	if c := res.Contact(); c != nil {
		ruri = c.Address
	}
	req := gosip.NewRequest(gosip.INVITE, ruri)
	to := gosip.HeaderClone(res.To()).(*gosip.ToHeader)
	to.Params.Remove("tag")
	req.AppendHeader(gosip.HeaderClone(res.From()))
	req.AppendHeader(to)
	req.AppendHeader(gosip.HeaderClone(res.CallID()))
	req.AppendHeader(gosip.HeaderClone(res.CSeq()))
	req.SetTransport(res.Transport())
	return req
}

// RefusesMethod reports a final response to a request of ours that says
// the peer does not do the request's method at all: 501 Not Implemented
// (RFC 3261 §21.5.2), or 405 Method Not Allowed whose Allow leaves it out
// (§21.4.6: the 405's Allow is what the peer does allow; one without an
// Allow refuses the method too).
func RefusesMethod(res *gosip.Response, method gosip.RequestMethod) bool {
	switch res.StatusCode {
	case 501:
		return true
	case 405:
		allowed := false
		eachMethod(res, func(m string) bool {
			allowed = strings.EqualFold(m, string(method))
			return !allowed
		})
		return !allowed
	}
	return false
}

// eachMethod calls f with each method of msg's Allow headers (a list may
// span several header lines, RFC 3261 §7.3.1), trimmed, in order, until f
// returns false; it allocates nothing (learn runs for every message).
func eachMethod(msg gosip.Message, f func(string) bool) {
	hs, ok := allHeaders(msg)
	if !ok {
		hs = HeadersNamed(msg, "Allow")
	}
	for _, h := range hs {
		if ok && !strings.EqualFold(h.Name(), "Allow") {
			continue
		}
		for v := h.Value(); v != ""; {
			var m string
			m, v, _ = strings.Cut(v, ",")
			if m = strings.TrimSpace(m); m != "" && !f(m) {
				return
			}
		}
	}
}

// Refresh takes the peer's new Contact from a target refresh request
// (re-INVITE, UPDATE) or its 2xx (RFC 3261 §12.2, RFC 3311 §5).
func (d *Dialog) Refresh(msg gosip.Message) {
	if c := contactOf(msg); c != nil {
		d.RemoteTarget = c.Address
	}
}

func contactOf(msg gosip.Message) *gosip.ContactHeader {
	if !hasHeader(msg, "Contact") {
		return nil // a provisional response often has none
	}
	switch m := msg.(type) {
	case *gosip.Request:
		return m.Contact()
	case *gosip.Response:
		return m.Contact()
	}
	return nil
}

// SourceIP is the IP msg came from (unmapped); invalid when unknown.
func SourceIP(msg gosip.Message) netip.Addr {
	ap, err := netip.ParseAddrPort(msg.Source())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// Heard notes a message the peer sent in the dialog: where it came from
// (the flow), and what it allows and supports. What has not changed keeps
// its strings, which may be packed (Pack), rather than the new message's.
func (d *Dialog) Heard(msg gosip.Message) {
	if src := msg.Source(); src != "" && src != d.Flow {
		d.Flow = src
	}
	d.learn(msg)
}

func (d *Dialog) learn(msg gosip.Message) {
	if HeaderNamed(msg, "Allow") == nil {
		return
	}
	// Usually the same list again: compared without building one.
	i, same := 0, true
	eachMethod(msg, func(m string) bool {
		same = i < len(d.Allow) && strings.EqualFold(m, d.Allow[i])
		i++
		return same
	})
	if same && i == len(d.Allow) {
		return
	}
	var allow []string
	eachMethod(msg, func(m string) bool {
		allow = append(allow, strings.ToUpper(m))
		return true
	})
	d.Allow = allow
}

// Allows reports whether the peer allows method; a peer that sent no Allow
// is assumed to allow only RFC 3261's core methods.
func (d *Dialog) Allows(method gosip.RequestMethod) bool {
	if method == gosip.UPDATE && d.NoUpdate {
		return false
	}
	if len(d.Allow) == 0 {
		switch method {
		case gosip.INVITE, gosip.ACK, gosip.BYE, gosip.CANCEL, gosip.OPTIONS:
			return true
		}
		return false
	}
	for _, m := range d.Allow {
		if m == string(method) {
			return true
		}
	}
	return false
}

// CheckRemoteSeq enforces RFC 3261 §12.2.2 on a new request in the dialog:
// a CSeq lower than the peer's last one is out of order (500); ACK and
// CANCEL carry their INVITE's number and are not counted.
func (d *Dialog) CheckRemoteSeq(req *gosip.Request) error {
	return CheckSeq(req, &d.RemoteSeq)
}

// CheckSeq is CheckRemoteSeq with the peer's last CSeq in *last (0: none
// yet), for a dialog kept apart from a Dialog: each early dialog of a
// forked call counts its own (RFC 3261 §12.1.2).
func CheckSeq(req *gosip.Request, last *uint32) error {
	if req.IsAck() || req.IsCancel() {
		return nil
	}
	n := req.CSeq().SeqNo
	if *last != 0 && n < *last {
		return fmt.Errorf("CSeq %d is lower than the dialog's %d", n, *last)
	}
	*last = n
	return nil
}

// NewRequest builds a request inside the dialog (RFC 3261 §12.2.1.1): the
// remote target as Request-URI and the route set as Route (strict routing
// when the first route lacks lr), our From and the peer's To with their
// tags, the Call-ID and the next CSeq (ACK and CANCEL reuse
// inviteSeq). contact is added for target refresh requests.
func (d *Dialog) NewRequest(method gosip.RequestMethod, inviteSeq uint32, body []byte, contact *gosip.ContactHeader) *gosip.Request {
	ruri, routes := d.RemoteTarget, d.RouteSet
	if len(routes) > 0 && !routes[0].UriParams.Has("lr") {
		// Strict router: it goes in the Request-URI, the target last in Route.
		ruri = routes[0]
		routes = append(append([]gosip.Uri(nil), routes[1:]...), d.RemoteTarget)
	}
	// NewRequest copies the URI's parameters and headers itself.
	req := gosip.NewRequest(method, ruri)
	for _, r := range routes {
		req.AppendHeader(&gosip.RouteHeader{Address: *r.Clone()})
	}
	// Params of the size they need (NewParams makes room for four).
	from := &gosip.FromHeader{DisplayName: d.LocalName, Address: d.Local, Params: gosip.HeaderParams{{K: "tag", V: d.LocalTag}}}
	to := &gosip.ToHeader{Address: d.Remote, Params: gosip.HeaderParams{}}
	if d.RemoteTag != "" {
		to.Params = gosip.HeaderParams{{K: "tag", V: d.RemoteTag}}
	}
	callID := gosip.CallIDHeader(d.CallID)
	seq := inviteSeq
	if method != gosip.ACK && method != gosip.CANCEL {
		d.LocalSeq++
		seq = d.LocalSeq
	}
	req.AppendHeader(from)
	req.AppendHeader(to)
	req.AppendHeader(&callID)
	req.AppendHeader(&gosip.CSeqHeader{SeqNo: seq, MethodName: method})
	if contact != nil {
		c := *contact
		req.AppendHeader(&c)
	}
	if body != nil {
		req.AppendHeader(gosip.NewHeader("Content-Type", "application/sdp"))
		setBody(req, body)
	}
	// The transport is the next hop's: the first Route when it is a loose
	// router (a proxy bridging TCP and UDP records transport=tcp there),
	// else the Request-URI (RFC 3261 §8.1.2, RFC 3263 §4.1).
	next := ruri
	if len(routes) > 0 && len(d.RouteSet) > 0 && d.RouteSet[0].UriParams.Has("lr") {
		next = routes[0]
	}
	req.SetTransport(d.transportFor(next))
	return req
}

// transportFor is the transport towards a URI: its transport parameter,
// else the dialog's (RFC 3263 §4.1).
func (d *Dialog) transportFor(u gosip.Uri) string {
	if u.UriParams != nil {
		if t, ok := u.UriParams.Get("transport"); ok && t != "" {
			return transportName(t)
		}
	}
	return d.Transport
}

// targets are the destinations an in-dialog request may take, best first,
// each named "how:address": over TCP the connection the peer's messages
// arrive on while it is open ("flow", see takesFlow); then the first route
// or the remote target (RFC 3261 §12.2.1.1), over a connection open to it
// or dialled anew over TCP ("target"); then, over UDP, the address the
// peer's messages come from, for peers whose Contact cannot be reached
// ("source").
func (d *Dialog) targets(req *gosip.Request) []string {
	var out []string
	seen := map[string]bool{}
	add := func(how, addr string) {
		if addr == "" || seen[addr] && how == "source" {
			return
		}
		seen[addr] = true
		out = append(out, how+":"+addr)
	}
	tcp := IsTCP(req)
	route := routeOf(req)
	if len(d.RouteSet) > 0 && !d.RouteSet[0].UriParams.Has("lr") {
		// A strict router is in the Request-URI (NewRequest): the request
		// goes there, not to the first Route (RFC 3261 §8.1.2, §12.2.1.1).
		route = nil
	}
	target := uriHostPort(req.Recipient, route, req.Transport())
	fallback := false
	if tcp && d.Flow != "" {
		if open, accepted := d.Side.streamFlow(d.Flow); open && d.takesFlow(target, accepted) {
			add("flow", d.Flow)
		} else if open {
			// Another port of the flow's IP (takesFlow): the flow after
			// it, should nothing take a connection there (an SBC behind a
			// port forward of its trunk port alone, advertising another);
			// first, once that port has failed us (flowFirst).
			host, _ := sameHostPort(d.Flow, target)
			fallback = host
			if host && d.flowFirst != 0 && d.flowFirst == portOf(target) {
				add("flow", d.Flow)
			}
		}
	}
	add("target", target)
	if fallback {
		add("flow", d.Flow)
	}
	if !tcp {
		add("source", d.Flow)
	}
	return out
}

// takesFlow reports whether a request whose next hop is target (IP:PORT,
// or host:port) goes on the flow, the open connection the peer's messages
// arrive on (accepted: the peer opened it, to our listener).
//
//   - The next hop is the flow's own address: the flow.
//   - Another host: the flow only without a route set, the peer's Contact
//     then (a private address behind NAT, say, that only the peer's
//     connection reaches); a route set naming another host (a proxy, or
//     another interface of the peer's) has the request go there.
//   - Another port of the flow's IP: the flow when the peer opened it.
//     Its source port is an ephemeral one that nothing listens on, never
//     the port its Record-Route or Contact names, and the connection is
//     how to reach it (RFC 5923-style reuse that SBCs behind NAT rely on).
//     When we dialled it, its port is one the peer listens on, and a route
//     or Contact naming another port names another listener of the peer's
//     (an SBC with a SIP interface per port): the request goes to that
//     port, as RFC 3263 has it, over a connection open to that port or a
//     new one (RFC 3261 §18.1.1 reuses connections per IP and port).
func (d *Dialog) takesFlow(target string, accepted bool) bool {
	host, port := sameHostPort(d.Flow, target)
	switch {
	case host && port:
		return true
	case !host:
		return len(d.RouteSet) == 0
	default:
		return accepted
	}
}

func routeOf(req *gosip.Request) *gosip.Uri {
	if !hasHeader(req, "Route") {
		return nil // without sipgo's allocating scan for an absent header
	}
	if r := req.Route(); r != nil {
		return &r.Address
	}
	return nil
}

// uriHostPort is where a request goes by URI: route (the first Route of a
// loose-routed request), else the Request-URI, with the transport's
// default port (5061 for TLS, else 5060: RFC 3263 §4.2). The URI's maddr
// parameter, when it has a usable one, is the host (RFC 3261 §19.1.1:
// it "overrides the address derived from the host field"; RFC 3263 §4:
// "the maddr is used as the target"): a peer that names its signalling
// address so in its Contact or Record-Route gets its ACK and BYE there.
func uriHostPort(ruri gosip.Uri, route *gosip.Uri, transport string) string {
	u := ruri
	if route != nil {
		u = *route
	}
	port := u.Port
	if port == 0 {
		port = 5060
		if strings.EqualFold(transport, "tls") {
			port = 5061
		}
	}
	host := u.Host
	if m := maddrOf(u); m != "" {
		host = m
	}
	if a, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		return netip.AddrPortFrom(a, uint16(port)).String()
	}
	return fmt.Sprintf("%s:%d", host, port)
}

// maddrOf is u's maddr parameter when it is an IP address or a host name
// (RFC 3261 §19.1.1, §25.1: maddr-param = "maddr=" host), "" otherwise:
// anything else would make a destination of whatever the peer wrote.
func maddrOf(u gosip.Uri) string {
	if u.UriParams == nil {
		return ""
	}
	m, ok := u.UriParams.Get("maddr")
	if !ok || m == "" {
		return ""
	}
	if _, err := netip.ParseAddr(strings.Trim(m, "[]")); err == nil {
		return m
	}
	for _, r := range m {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.') {
			return ""
		}
	}
	return m
}

// Send sends an in-dialog request, trying its targets in order while the
// request cannot even be written (a TCP connection refused, a dead
// connection). It returns the transaction and the target used; SendNext
// tries the targets not tried yet.
func (d *Dialog) Send(ctx context.Context, req *gosip.Request, sink ResponseSink) (*ClientTx, string, error) {
	return d.SendNext(ctx, req, sink, nil)
}

// SendNext sends req, with a fresh Via branch, to the first of its targets
// not in tried (see Send). It is how a request that timed out on one
// target is retried on the next: the targets are worked out again, since
// a connection may have closed in the meantime.
func (d *Dialog) SendNext(ctx context.Context, req *gosip.Request, sink ResponseSink, tried []string) (*ClientTx, string, error) {
	var tx *ClientTx
	target, err := d.sendOn(ctx, req, tried, func(ctx context.Context, r *gosip.Request) (err error) {
		tx, err = d.Side.Send(ctx, r, sink)
		return err
	})
	if err != nil {
		return nil, "", err
	}
	return tx, target, nil
}

// sendOn hands req to send for the first of its targets not in tried,
// then the next while a target cannot even be written (ErrTransport),
// and returns the target that took it. Each try gets req itself the first
// time, then a copy with a Via of its own (so a retransmission or another
// target is a new branch), its destination set, and a context bounded
// for a target that has another after it (tryContext).
func (d *Dialog) sendOn(ctx context.Context, req *gosip.Request, tried []string, send func(context.Context, *gosip.Request) error) (string, error) {
	var errs []error
	targets := d.targets(req)
	for i, target := range targets {
		if slices.Contains(tried, target) {
			continue
		}
		r := req
		if hasHeader(req, "Via") {
			r = req.Clone()
			r.SetBody(req.Body())
			r.RemoveHeader("Via")
		}
		r.SetTransport(req.Transport())
		_, addr, _ := strings.Cut(target, ":")
		r.SetDestination(addr)
		tctx, cancel := d.Side.tryContext(ctx, r, targets, i)
		err := send(tctx, r)
		cancel()
		if err == nil {
			d.noteFallback(targets, i, tried)
			return target, nil
		}
		tried = append(tried, target)
		errs = append(errs, fmt.Errorf("%s: %w", target, err))
		if !errors.Is(err, ErrTransport) {
			break
		}
	}
	if len(errs) == 0 {
		return "", fmt.Errorf("%s: no target left: %w", req.Method, ErrTransport)
	}
	return "", errors.Join(errs...)
}

// Ack sends the ACK of a 2xx to our INVITE (RFC 3261 §13.2.2.4): in the
// dialog, with the INVITE's CSeq number and its own branch; body carries
// the answer to an offer in the 2xx.
func (d *Dialog) Ack(ctx context.Context, inviteSeq uint32, body []byte) (*gosip.Request, error) {
	ack := d.NewRequest(gosip.ACK, inviteSeq, body, nil)
	return ack, d.WriteAck(ctx, ack)
}

// WriteAck (re)sends an ACK built by Ack: for a retransmitted 2xx. The
// first write sends ack itself; a later one (another target, a
// retransmission) a copy with a Via of its own, as SendNext does.
func (d *Dialog) WriteAck(ctx context.Context, ack *gosip.Request) error {
	_, err := d.sendOn(ctx, ack, nil, d.Side.WriteRequest)
	return err
}

// fallbackDial bounds the connection to a target that has another after
// it: a port that takes TCP and stalls the TLS handshake holds the
// request (the ACK that the caller's 200 waits on, say) that long, not
// the whole dial timeout, before the next target is tried.
const fallbackDial = 2 * time.Second

// tryContext is the context for sending req to targets[i]: ctx, bounded
// by fallbackDial (or the dial timeout, if shorter) when a target follows
// and req needs a dial or a DNS lookup (a UDP request to an IP address
// waits for nothing: no timer for it, as in prepare).
func (s *Side) tryContext(ctx context.Context, req *gosip.Request, targets []string, i int) (context.Context, context.CancelFunc) {
	if i == len(targets)-1 || !IsTCP(req) && isIPAddrPort(req.Destination()) {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, min(fallbackDial, s.dial))
}

// noteFallback sets flowFirst when the request got through on the flow,
// targets[i], after its target, another port of the flow's IP, failed.
func (d *Dialog) noteFallback(targets []string, i int, tried []string) {
	if !strings.HasPrefix(targets[i], "flow:") {
		return
	}
	for _, t := range tried {
		if addr, ok := strings.CutPrefix(t, "target:"); ok {
			d.flowFirst = portOf(addr)
			return
		}
	}
}

// portOf is the port of host:port, 0 when there is none.
func portOf(hostPort string) uint16 {
	_, p, err := net.SplitHostPort(hostPort)
	if err != nil {
		return 0
	}
	n, err := strconv.ParseUint(p, 10, 16)
	if err != nil {
		return 0
	}
	return uint16(n)
}

// sameHostPort reports whether two host:port strings name the same host,
// and then whether the same port too.
func sameHostPort(a, b string) (host, port bool) {
	ha, pa, errA := net.SplitHostPort(a)
	hb, pb, errB := net.SplitHostPort(b)
	if errA != nil || errB != nil {
		return false, false
	}
	ia, errA := netip.ParseAddr(ha)
	ib, errB := netip.ParseAddr(hb)
	if errA == nil && errB == nil {
		host = ia.Unmap() == ib.Unmap()
	} else {
		host = strings.EqualFold(ha, hb)
	}
	return host, host && pa == pb
}

// OurContact is our Contact for a request we send in the dialog: a SIPS URI
// when the dialog is (its remote target or first route is a SIPS URI, over
// TLS): RFC 3261 §8.1.1.8, so that a target refresh of ours keeps the
// dialog SIPS.
func (d *Dialog) OurContact() gosip.ContactHeader {
	c := d.Side.Contact(d.Transport)
	if !strings.EqualFold(d.Transport, "tls") {
		return c
	}
	return sipsIf(c, strings.EqualFold(d.RemoteTarget.Scheme, "sips") || len(d.RouteSet) > 0 && strings.EqualFold(d.RouteSet[0].Scheme, "sips"))
}

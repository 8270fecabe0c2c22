package sip

import (
	"net"

	gosip "github.com/emiago/sipgo/sip"
	"github.com/google/uuid"
)

// newResponse builds a response to req as sipgo's NewResponseFromRequest
// does, header for header (RFC 3261 §8.2.6: Record-Route for 18x and 2xx,
// then Via, From, To, Call-ID, CSeq; RFC 3581 received/rport in the top
// Via; Timestamp in a 100; a To-tag in anything else), without its costs:
// sipgo's CopyHeaders lower-cases the name of every header of the request
// twice (about 27 allocations per call in all), every response but a 100
// draws a random UUID tag even when the caller then sets its own, and its
// destination is formatted from the request's address only to be
// replaced. toTag, when not empty and code is over 100, is the To-tag of
// a response to a request without one; the caller sets the destination.
func newResponse(req *gosip.Request, code int, reason, toTag string, body []byte) *gosip.Response {
	// Always SIP/2.0 (gosip.NewResponse's), the only version we speak:
	// a request of another version gets 505 in SIP/2.0 (RFC 3261 §7.1).
	res := gosip.NewResponse(code, Phrase(code, reason))
	// RFC 3261 §20, Table 3; §12.1.1 for early dialogs.
	allowedMethod := req.Method != gosip.REGISTER && !req.IsAck()
	allowedStatus := (code >= 180 && code < 190) || (code >= 200 && code < 300)
	earlyInvite := req.IsInvite() && code > 100 && code < 200
	if allowedMethod && (allowedStatus || earlyInvite) {
		copyHeaders(req, res, "Record-Route")
	}
	copyHeaders(req, res, "Via")
	if h := req.From(); h != nil {
		res.AppendHeader(gosip.HeaderClone(h))
	}
	if h := req.To(); h != nil {
		res.AppendHeader(gosip.HeaderClone(h))
	}
	if h := req.CallID(); h != nil {
		res.AppendHeader(gosip.HeaderClone(h))
	}
	if h := req.CSeq(); h != nil {
		res.AppendHeader(gosip.HeaderClone(h))
	}
	if h := res.Via(); h != nil {
		if val, exists := h.Params.Get("rport"); exists && val == "" {
			host, port, _ := net.SplitHostPort(req.Source())
			h.Params.Add("rport", port)
			h.Params.Add("received", host)
		}
	}
	switch {
	case code == 100:
		copyHeaders(req, res, "Timestamp")
	case toTag != "" && code > 100:
		// A request inside a dialog (or an early one) names it by its
		// To-tag, which the response must keep (RFC 3261 §8.2.6.2): a
		// PRACK of one fork's early dialog is answered in that dialog,
		// not in the one toTag names.
		if to := res.To(); to != nil && !to.Params.Has("tag") {
			to.Params.Add("tag", toTag)
		}
	default:
		if to := res.To(); to != nil && !to.Params.Has("tag") {
			to.Params.Add("tag", uuid.NewString())
		}
	}
	setBody(res, body)
	res.SetTransport(req.Transport())
	return res
}

// copyHeaders appends to res a copy of each of req's headers called name.
func copyHeaders(req *gosip.Request, res *gosip.Response, name string) {
	hn := nameOf(name)
	for _, h := range req.Headers() {
		if hn.matches(h.Name()) {
			res.AppendHeader(gosip.HeaderClone(h))
		}
	}
}

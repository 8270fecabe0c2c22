package sip

import (
	gosip "github.com/emiago/sipgo/sip"
)

// Class is what a request means to the B2BUA, decided before any call state
// is touched.
type Class int

const (
	// Invalid requests lack a header every request must have.
	Invalid Class = iota
	// Initial is an INVITE that starts a new call.
	Initial
	// Duplicate is an initial INVITE for a call that already exists (a
	// retransmission that outlived its transaction, or a merged request):
	// it must not create a second call.
	Duplicate
	// InDialog is a request inside a dialog the registry knows.
	InDialog
	// UnknownDialog is a request that names a dialog (To-tag) nobody knows,
	// or a CANCEL/BYE that matches nothing: 481.
	UnknownDialog
	// OutOfDialog is a request that needs no dialog (OPTIONS, ...).
	OutOfDialog
	// Cancel is a CANCEL of an initial INVITE the registry knows (matched by
	// Call-ID and From-tag; the call checks the branch).
	Cancel
)

var classNames = [...]string{"malformed", "initial", "duplicate", "in-dialog", "unknown-dialog", "out-of-dialog", "cancel"}

func (c Class) String() string { return classNames[c] }

// Dialogs is what classification needs to know of the call registry.
type Dialogs interface {
	// HasDialog reports a dialog whose local tag (our tag: the To-tag of a
	// request we receive) is localTag.
	HasDialog(callID, localTag string) bool
	// HasInvite reports a call created by an INVITE with this Call-ID and
	// From-tag.
	HasInvite(callID, fromTag string) bool
}

// Classify sorts a request. The side has already absorbed retransmissions
// whose transaction is alive, so what reaches here is new to the
// transaction layer.
func Classify(req *gosip.Request, d Dialogs) Class {
	callID, from, to, cseq := req.CallID(), req.From(), req.To(), req.CSeq()
	if callID == nil || from == nil || to == nil || cseq == nil || req.Via() == nil {
		return Invalid
	}
	fromTag, _ := from.Params.Get("tag")
	toTag, hasToTag := to.Params.Get("tag")
	switch req.Method {
	case gosip.INVITE:
		if hasToTag && toTag != "" {
			if d.HasDialog(string(*callID), toTag) {
				return InDialog
			}
			return UnknownDialog
		}
		if fromTag != "" && d.HasInvite(string(*callID), fromTag) {
			return Duplicate
		}
		return Initial
	case gosip.OPTIONS, gosip.REGISTER, gosip.MESSAGE, gosip.SUBSCRIBE, gosip.PUBLISH, gosip.REFER:
		// A REFER may come outside a dialog too (RFC 3515 §2.4.2): a new
		// request, not one for a dialog that does not exist.
		if hasToTag && toTag != "" {
			if d.HasDialog(string(*callID), toTag) {
				return InDialog
			}
			return UnknownDialog
		}
		return OutOfDialog
	case gosip.CANCEL:
		if hasToTag && toTag != "" {
			if d.HasDialog(string(*callID), toTag) {
				return InDialog
			}
			return UnknownDialog
		}
		if fromTag != "" && d.HasInvite(string(*callID), fromTag) {
			return Cancel
		}
		return UnknownDialog
	default:
		// BYE, ACK, INFO, UPDATE, PRACK, NOTIFY and unknown
		// methods only make sense inside a dialog.
		if hasToTag && toTag != "" && d.HasDialog(string(*callID), toTag) {
			return InDialog
		}
		return UnknownDialog
	}
}

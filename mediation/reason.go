package mediation

import (
	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/sip"
)

// Why a call ended or failed, passed from one leg to the other, as an SBC
// engineer expects to see it on the far side: the Reason header (RFC
// 3326; Q.850 causes, RFC 6432) of a CANCEL or BYE goes on in our CANCEL
// or BYE, and a final failure response of the callee reaches the caller
// with its Reason, Warning and Retry-After (RFC 3261 §20.33, §20.43), its
// code and phrase as before.

// reasonOf are the Reason headers of req, copied: the call keeps them
// after the request is gone.
func reasonOf(req *gosip.Request) []gosip.Header {
	return copiedHeaders(req, "Reason")
}

// failureHeaders are the headers of the callee's failure response res
// that our own failure response (code) carries on: Reason and Warning,
// and Retry-After unless we answer 503. A 503's Retry-After tells the
// caller to keep away from the server that sent it, and ours would be
// about us, not about the trunk that was busy (RFC 3261 §21.5.4; the
// same reason RFC 3261 §16.7 has a proxy not forward a 503 as it is).
func failureHeaders(res *gosip.Response, code int) []gosip.Header {
	hs := copiedHeaders(res, "Reason", "Warning")
	if code != 503 {
		hs = append(hs, copiedHeaders(res, "Retry-After")...)
	}
	return hs
}

// Bounds of what crosses: a peer's kilobytes of Warnings would make our
// response too large for UDP (513 instead of its code).
const (
	maxCopiedPerName   = 3
	maxCopiedValueSize = 256
)

// copiedHeaders are new headers with the names and values of msg's
// headers of the given names, at most maxCopiedPerName of each and none
// over maxCopiedValueSize bytes (copyNamed).
func copiedHeaders(msg gosip.Message, names ...string) []gosip.Header {
	out, _ := copyNamed(msg, names, maxCopiedPerName, maxCopiedValueSize)
	return out
}

// copyNamed are new headers with the names and values of msg's headers of
// names (compact forms too), in order: at most perName of each and none
// longer than maxLen (0: no bound), none with a control character
// (sip.CheckHeaderValue); refused names the first left out for a control
// character, "" if none was.
func copyNamed(msg gosip.Message, names []string, perName, maxLen int) (out []gosip.Header, refused string) {
	for _, name := range names {
		n := 0
		for _, h := range sip.HeadersNamed(msg, name) {
			v := h.Value()
			switch {
			case perName > 0 && n >= perName, maxLen > 0 && len(v) > maxLen:
				continue
			case sip.CheckHeaderValue(v) != nil:
				if refused == "" {
					refused = name
				}
				continue
			}
			out = append(out, gosip.NewHeader(name, v))
			n++
		}
	}
	return out, refused
}

// clones are copies of hs: a header appended to a message belongs to it.
func clones(hs []gosip.Header) []gosip.Header {
	if len(hs) == 0 {
		return nil
	}
	out := make([]gosip.Header, len(hs))
	for i, h := range hs {
		out[i] = gosip.NewHeader(h.Name(), h.Value())
	}
	return out
}

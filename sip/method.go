package sip

import (
	"bytes"
	"strings"

	gosip "github.com/emiago/sipgo/sip"
)

// knownMethods are the methods of RFC 3261 and its extensions that the
// mediation server recognises, spelt as on the wire: methods are
// case-sensitive (RFC 3261 §7.1, §25.1), so "invite" is not INVITE.
var knownMethods = map[gosip.RequestMethod]bool{
	gosip.INVITE: true, gosip.ACK: true, gosip.CANCEL: true, gosip.BYE: true, gosip.REGISTER: true,
	gosip.OPTIONS: true, gosip.SUBSCRIBE: true, gosip.NOTIFY: true, gosip.REFER: true, gosip.INFO: true,
	gosip.MESSAGE: true, gosip.PRACK: true, gosip.UPDATE: true, gosip.PUBLISH: true,
}

// KnownMethod reports whether m is a method the server recognises: others
// get 501 Not Implemented (RFC 3261 §8.2.1), known ones it does not handle
// 405 Method Not Allowed.
func KnownMethod(m gosip.RequestMethod) bool { return knownMethods[m] }

// IsVersion2 reports whether req is a SIP/2.0 request, the only version
// the server speaks; others get 505 Version Not Supported (RFC 3261 §21.5.15). The
// version string is case-insensitive (RFC 3261 §7.1).
func IsVersion2(req *gosip.Request) bool { return isVersion2(req.SipVersion) }

// isVersion2 reports the version string of SIP/2.0, in any case; a
// response of another version is dropped (it cannot be answered).
func isVersion2(v string) bool { return strings.EqualFold(v, "SIP/2.0") }

// wireMethod puts back the request-line method as it was on the wire.
//
// sipgo's parser upper-cases the request-line method (parseRequestLine:
// strings.ToUpper) and keeps neither the start line nor the token as
// written, so "invite" would be taken for INVITE. raw begins where the
// message does (a UDP datagram; for TCP and TLS, the start the stream kept:
// stream.noteMethod). Only its first token is compared with the parsed
// method, case-insensitively, so nothing of SIP is parsed here: when they
// differ only in case the request gets the token as written, which no
// known method matches.
func wireMethod(req *gosip.Request, raw []byte) {
	head := raw[:min(len(raw), maxMethodToken)]
	i := bytes.IndexByte(head, ' ')
	if i < 0 || string(head[:i]) == string(req.Method) {
		return
	}
	if token := string(head[:i]); strings.EqualFold(token, string(req.Method)) {
		req.Method = gosip.RequestMethod(token)
	}
}

// maxMethodToken bounds the bytes looked at for the method token: longer
// tokens are left as sipgo parsed them (no known method is that long).
const maxMethodToken = 64

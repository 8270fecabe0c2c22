package sip

import (
	"strings"

	gosip "github.com/emiago/sipgo/sip"
)

// Header lookup by name without allocation. sipgo's GetHeader and
// GetHeaders lower-case the name of every header of the message on every
// lookup (HeaderToLower allocates for each name outside its short list:
// Supported, Allow, User-Agent, ms-*, ...), and its typed getters (Via,
// Route, MaxForwards, ContentLength, Contact) do the same over the whole
// message when the header is absent: 82 of the 2,244 allocations of a
// bypassed call through the daemon (BenchmarkCall in mediation/bench).
// Header names are case-insensitive (RFC 3261 §7.3.1) and may arrive in
// compact form (§7.3.3); sipgo keeps the headers it does not parse (k:,
// x:, r:, ...) under the name they arrived with, so a lookup by the long
// name finds the compact form too, and the other way round.

// compactForms pairs a header's long name with its compact form: RFC 3261
// §7.3.3 and §20, and the extensions that define one.
var compactForms = [...]struct{ long, short string }{
	{"Accept-Contact", "a"},      // RFC 3841
	{"Referred-By", "b"},         // RFC 3892
	{"Content-Type", "c"},        // RFC 3261
	{"Request-Disposition", "d"}, // RFC 3841
	{"Content-Encoding", "e"},    // RFC 3261
	{"From", "f"},                // RFC 3261
	{"Call-ID", "i"},             // RFC 3261
	{"Reject-Contact", "j"},      // RFC 3841
	{"Supported", "k"},           // RFC 3261
	{"Content-Length", "l"},      // RFC 3261
	{"Contact", "m"},             // RFC 3261
	{"Identity-Info", "n"},       // RFC 4474
	{"Event", "o"},               // RFC 6665
	{"Refer-To", "r"},            // RFC 3515
	{"Subject", "s"},             // RFC 3261
	{"To", "t"},                  // RFC 3261
	{"Allow-Events", "u"},        // RFC 6665
	{"Via", "v"},                 // RFC 3261
	{"Session-Expires", "x"},     // RFC 4028
	{"Identity", "y"},            // RFC 8224
}

// headerName is a name to look up: its long form and its compact form
// ("" when it has none).
type headerName struct{ long, short string }

// nameOf resolves name (long or compact, any case) to both forms.
func nameOf(name string) headerName {
	if len(name) == 1 {
		for _, f := range compactForms {
			if f.short[0] == name[0]|0x20 {
				return headerName{f.long, f.short}
			}
		}
		return headerName{long: name}
	}
	for _, f := range compactForms {
		if len(f.long) == len(name) && strings.EqualFold(f.long, name) {
			return headerName{f.long, f.short}
		}
	}
	return headerName{long: name}
}

// matches reports whether a header called n is this name.
func (hn headerName) matches(n string) bool {
	if len(n) == len(hn.long) {
		return strings.EqualFold(n, hn.long)
	}
	return len(n) == 1 && hn.short != "" && n[0]|0x20 == hn.short[0]
}

// allHeaders is msg's headers in message order; ok false for a Message
// that is neither a request nor a response.
func allHeaders(msg gosip.Message) (hs []gosip.Header, ok bool) {
	switch m := msg.(type) {
	case *gosip.Request:
		if m == nil {
			return nil, true
		}
		return m.Headers(), true
	case *gosip.Response:
		if m == nil {
			return nil, true
		}
		return m.Headers(), true
	}
	return nil, false
}

// HeaderNamed is msg's first header called name (case-insensitive, long or
// compact form), nil when there is none. It allocates nothing, unlike
// GetHeader.
func HeaderNamed(msg gosip.Message, name string) gosip.Header {
	if msg == nil {
		return nil
	}
	hn := nameOf(name)
	hs, ok := allHeaders(msg)
	if !ok {
		if out := HeadersNamed(msg, name); len(out) > 0 {
			return out[0]
		}
		return nil
	}
	for _, h := range hs {
		if hn.matches(h.Name()) {
			return h
		}
	}
	return nil
}

// HeadersNamed returns msg's headers called name (case-insensitive, long
// or compact form), in message order: the order of option tags across
// several headers matters to Unsupported, and a message may mix both
// forms. It allocates only the slice it returns, nil when none matches.
func HeadersNamed(msg gosip.Message, name string) []gosip.Header {
	if msg == nil {
		return nil
	}
	hn := nameOf(name)
	hs, ok := allHeaders(msg)
	if !ok {
		out := msg.GetHeaders(hn.long)
		if hn.short != "" {
			out = append(out, msg.GetHeaders(hn.short)...)
		}
		return out
	}
	var out []gosip.Header
	for _, h := range hs {
		if hn.matches(h.Name()) {
			out = append(out, h)
		}
	}
	return out
}

// hasHeader reports whether msg has a header called name. It stands in
// for sipgo's typed getters (Via, Route, MaxForwards, ContentLength...)
// where the header may well be absent: they scan and lower-case every
// header name when it is.
func hasHeader(msg gosip.Message, name string) bool {
	return HeaderNamed(msg, name) != nil
}

// setBody is msg.SetBody without its lookup of an absent Content-Length
// (sipgo's typed getter, which lower-cases every header name): the header
// goes where SetBody would append it, with the length SetBody would give
// it.
func setBody(msg gosip.Message, body []byte) {
	if !hasHeader(msg, "Content-Length") {
		cl := gosip.ContentLengthHeader(len(body))
		msg.AppendHeader(&cl)
	}
	msg.SetBody(body)
}

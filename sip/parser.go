package sip

import (
	"maps"

	gosip "github.com/emiago/sipgo/sip"
)

// sipgo's parser fails a whole message when one of the headers it parses
// eagerly has a value it cannot read: "Max-Forwards: -1" (or "abc", "2 3")
// made the INVITE unparseable, so it was dropped over UDP and its TCP
// connection closed, with no answer (r25-loop F3), where RFC 3261 §21.4.1
// and README promise 400. The parser below keeps such a Max-Forwards as a
// generic header instead, for CheckRequest to refuse with "400 Bad Request
// - Invalid Max-Forwards". Headers that frame or route the message (Via,
// CSeq, Call-ID, From, To, Content-Length) keep sipgo's parsers: without
// them no transaction or response can be made, and Content-Length frames
// TCP.

// newParser is sipgo's parser with a lenient Max-Forwards.
func newParser() *gosip.Parser {
	// DefaultHeadersParser returns sipgo's package map itself: change a copy.
	parsers := maps.Clone(gosip.DefaultHeadersParser())
	parsers["max-forwards"] = lenientMaxForwards(parsers["max-forwards"])
	return gosip.NewParser(gosip.WithHeadersParsers(parsers))
}

// lenientMaxForwards wraps sipgo's Max-Forwards parser so that a value it
// refuses is kept as a generic Max-Forwards header (the value trimmed as
// sipgo trims it) rather than failing the message; req.MaxForwards() then
// returns nil (sipgo's lazy parse of it fails), and CheckRequest tells it
// from an absent one by its name (invalidMaxForwards).
func lenientMaxForwards(parse gosip.HeaderParser) gosip.HeaderParser {
	return func(name []byte, text string) (gosip.Header, error) {
		h, err := parse(name, text)
		if err != nil {
			return gosip.NewHeader("Max-Forwards", text), nil
		}
		return h, nil
	}
}

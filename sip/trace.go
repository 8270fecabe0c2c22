package sip

import (
	gosip "github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"
)

// Direction of a traced message, seen from the mediation server.
const (
	In  = "in"
	Out = "out"
)

// Trace logs a whole SIP message at debug level with its side, direction,
// addresses and Call-ID, so an operator can follow one call (and find
// a=x-bypassid in its INVITE, 183 and 200) by grepping one field. log
// should already carry the call's own id.
func Trace(log *zerolog.Logger, side *Side, dir string, msg gosip.Message) {
	if msg == nil || !log.Debug().Enabled() {
		return
	}
	ev := log.Debug().Str("side", side.Name).Str("dir", dir).Str("transport", msg.Transport())
	if dir == In {
		ev = ev.Str("remote", msg.Source())
	} else {
		ev = ev.Str("remote", msg.Destination())
	}
	if cid := msg.CallID(); cid != nil {
		ev = ev.Str("sip_call_id", string(*cid))
	}
	ev.Str("sip", msg.String()).Msg(firstLine(msg))
}

func firstLine(msg gosip.Message) string {
	switch m := msg.(type) {
	case *gosip.Request:
		return "sip " + m.StartLine()
	case *gosip.Response:
		return "sip " + m.StartLine()
	}
	return "sip message"
}

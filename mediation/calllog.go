package mediation

import "github.com/rs/zerolog"

// callLog is a call's logger: the server's, with the call's fields (its
// id, direction and caller's Call-ID, then the trunk once chosen and the
// Call-ID of our INVITE) added to each event as it is made. A zerolog
// logger with them as its context would hold a 500-byte buffer (zerolog
// gives each context that) for the whole life of every call, most of
// whose events are disabled (README "Performance"); the fields are kept
// as the strings they are instead, which the call keeps anyway (settle
// packs them with the rest). Events carry them in the same place as a
// context's: after the level, before the event's own fields.
type callLog struct {
	base *zerolog.Logger
	id   string
	dir  direction
	// aCallID, gateway and bCallID are the caller's Call-ID, the trunk's
	// name and our INVITE's Call-ID, "" until known.
	aCallID, gateway, bCallID string
}

// MarshalZerologObject writes the call's fields: one list for its events
// (with) and for the loggers made of it (Logger), which must not differ.
func (l *callLog) MarshalZerologObject(e *zerolog.Event) {
	e.Str("call", l.id).Str("direction", l.dir.String()).Str("a_call_id", l.aCallID)
	if l.gateway != "" {
		e.Str("gateway", l.gateway)
	}
	if l.bCallID != "" {
		e.Str("b_call_id", l.bCallID)
	}
}

// with adds the call's fields to e, nil when its level is disabled.
func (l *callLog) with(e *zerolog.Event) *zerolog.Event {
	if e == nil {
		return nil
	}
	return e.EmbedObject(l)
}

func (l *callLog) Debug() *zerolog.Event { return l.with(l.base.Debug()) }
func (l *callLog) Info() *zerolog.Event  { return l.with(l.base.Info()) }
func (l *callLog) Warn() *zerolog.Event  { return l.with(l.base.Warn()) }
func (l *callLog) Error() *zerolog.Event { return l.with(l.base.Error()) }

// Logger is a zerolog logger with the call's fields as its context, for
// what outlives one event and takes a zerolog.Logger (an anchored call's
// relay; its own allocation then).
func (l *callLog) Logger() zerolog.Logger {
	return l.base.With().EmbedObject(l).Logger()
}

// nopCallLog logs nothing (a plan made outside a call: tests, fuzzing).
func nopCallLog() *callLog {
	nop := zerolog.Nop()
	return &callLog{base: &nop}
}

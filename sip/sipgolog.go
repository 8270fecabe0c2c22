package sip

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"time"

	gosip "github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"
)

// sipgo logs through log/slog: its transactions through each stack's
// logger, its connection pool through a process-wide default. Both go to
// zerolog, tagged component=sipgo, through sipgoHandler.

// sipgo's own process-wide default is slog's text handler on stderr at
// info: in any program or test binary that builds a Stack before (or
// without) calling SetDefaultLogger, its connection pool would print plain
// text between zerolog's lines. This package's default is zerolog's JSON on
// stderr at warn level, through sipgoHandler; SetDefaultLogger replaces it.
func init() {
	gosip.SetDefaultLogger(newSipgoLogger(zerolog.New(os.Stderr).Level(zerolog.WarnLevel).With().Timestamp().Logger(), nil))
}

// newSipgoLogger is the slog logger sipgo code writes to log through;
// readErrors counts its "Read error" records (nil: a counter of its own).
func newSipgoLogger(log zerolog.Logger, readErrors *atomic.Uint64) *slog.Logger {
	if readErrors == nil {
		readErrors = new(atomic.Uint64)
	}
	return slog.New(sipgoHandler{Handler: zerolog.NewSlogHandler(log.With().Str("component", "sipgo").Logger()),
		log: log, reads: &readErrorLog{count: readErrors, log: Limiter{Every: time.Second}}})
}

// readErrorMsg is what sipgo's TCP and TLS transports log, at error
// level, when reading a connection fails with anything but EOF or a close
// of ours: above all a peer's reset (RST), which a hostile or crashing
// peer can repeat as fast as it can connect. It is the peer's doing, not
// an error of ours: counted (ConnStats.ReadErrors), and logged at info,
// one a second at most, with how many were suppressed.
const readErrorMsg = "Read error"

// readErrorLog counts and rate-limits sipgo's readErrorMsg records.
type readErrorLog struct {
	count *atomic.Uint64
	log   Limiter
}

// demoted tells the sipgo warnings about nothing wrong here, logged at
// debug: "TCP ref went negative" (and its UDP and WS kin, worded a little
// differently). sipgo's TCPConnection.Close sets the connection's
// reference count to 0, and every transaction still holding the connection
// (an INVITE server transaction lingers 64*T1 after its 2xx, over TCP too)
// then takes its reference back below 0, harmlessly. A peer closing a
// connection that carried a thousand calls in the last 32 s made a
// thousand warnings.
//
// And "ACK loop retransimission" (sic), which sipgo's INVITE client
// transaction logs at error level each time the far side sends its non-2xx
// final response again after our ACK (our ACK was lost, or crossed it):
// RFC 3261 §17.1.1.2 has us ACK every retransmission, which is not a fault.
func demoted(msg string) bool {
	return strings.Contains(msg, "ref went negative") || strings.HasPrefix(msg, "ACK loop retrans")
}

// sipgoHandler passes sipgo's records to zerolog, those in demoted at
// debug level, its read errors counted and sampled (readErrorLog).
type sipgoHandler struct {
	slog.Handler
	// log is the logger behind Handler, asked in Enabled.
	log   zerolog.Logger
	reads *readErrorLog
}

// Enabled lets read errors through whatever the level: each is counted.
// Below that it asks the zerolog logger itself whether it would write the
// level, sampler included: zerolog's slog handler leaves the sampler out,
// and the daemon's logger is a debug logger whose sampler drops what is
// below the console's level while nobody follows the log stream
// (logstream.Hub.Logger). Without this, each of sipgo's debug records (two
// a transaction, "Client transaction initialized" and "destroyed") was
// built, with its caller's stack, only to be dropped: 3.5 % of the
// daemon's CPU at 2,000 calls/s.
func (h sipgoHandler) Enabled(ctx context.Context, level slog.Level) bool {
	if level >= slog.LevelError {
		return true
	}
	// WithLevel checks the level and the sampler, and builds nothing when
	// either refuses; zerolog's handler's Enabled would check the level
	// again.
	e := h.log.WithLevel(zerologLevel(level))
	if e == nil {
		return false
	}
	e.Discard()
	return true
}

// zerologLevel is zerolog's level for an slog level, as zerolog's slog
// handler maps it.
func zerologLevel(l slog.Level) zerolog.Level {
	switch {
	case l >= slog.LevelError:
		return zerolog.ErrorLevel
	case l >= slog.LevelWarn:
		return zerolog.WarnLevel
	case l >= slog.LevelInfo:
		return zerolog.InfoLevel
	case l >= slog.LevelDebug:
		return zerolog.DebugLevel
	}
	return zerolog.TraceLevel
}

func (h sipgoHandler) Handle(ctx context.Context, r slog.Record) error {
	switch {
	case r.Message == readErrorMsg:
		h.reads.count.Add(1)
		ok, suppressed := h.reads.log.Allow()
		if !ok {
			return nil
		}
		r = r.Clone() // its attributes are shared with sipgo's record
		r.Level = slog.LevelInfo
		r.AddAttrs(slog.Int("suppressed", suppressed))
	case r.Level > slog.LevelDebug && demoted(r.Message):
		r.Level = slog.LevelDebug
	}
	if !h.Handler.Enabled(ctx, r.Level) {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h sipgoHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return sipgoHandler{h.Handler.WithAttrs(attrs), h.log, h.reads}
}

func (h sipgoHandler) WithGroup(name string) slog.Handler {
	return sipgoHandler{h.Handler.WithGroup(name), h.log, h.reads}
}

package sip

import (
	"context"
	"log/slog"
	"os"
	"strings"

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
	gosip.SetDefaultLogger(newSipgoLogger(zerolog.New(os.Stderr).Level(zerolog.WarnLevel).With().Timestamp().Logger()))
}

// newSipgoLogger is the slog logger sipgo code writes to log through.
func newSipgoLogger(log zerolog.Logger) *slog.Logger {
	return slog.New(sipgoHandler{zerolog.NewSlogHandler(log.With().Str("component", "sipgo").Logger())})
}

// demoted tells the sipgo warnings about nothing wrong here, logged at
// debug: "TCP ref went negative" (and its UDP and WS kin, worded a little
// differently). sipgo's TCPConnection.Close sets the connection's
// reference count to 0, and every transaction still holding the connection
// (an INVITE server transaction lingers 64*T1 after its 2xx, over TCP too)
// then takes its reference back below 0, harmlessly. A peer closing a
// connection that carried a thousand calls in the last 32 s made a
// thousand warnings.
func demoted(msg string) bool { return strings.Contains(msg, "ref went negative") }

// sipgoHandler passes sipgo's records to zerolog, those in demoted at
// debug level.
type sipgoHandler struct{ slog.Handler }

func (h sipgoHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level > slog.LevelDebug && demoted(r.Message) {
		r.Level = slog.LevelDebug
		if !h.Handler.Enabled(ctx, r.Level) {
			return nil
		}
	}
	return h.Handler.Handle(ctx, r)
}

func (h sipgoHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return sipgoHandler{h.Handler.WithAttrs(attrs)}
}

func (h sipgoHandler) WithGroup(name string) slog.Handler {
	return sipgoHandler{h.Handler.WithGroup(name)}
}

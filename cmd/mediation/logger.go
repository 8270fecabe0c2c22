package main

import (
	"bytes"
	"io"
	"os"
	"strings"

	"github.com/rs/zerolog"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/ladder"
	"github.com/mediation-emulator/mediation/mediation/logstream"
)

// TimeFormat is the timestamp of every log line: RFC 3339 with
// microseconds, so that the messages of one call can be told apart and
// put side by side with a packet capture.
const TimeFormat = "2006-01-02T15:04:05.000000Z07:00"

func init() {
	// Process-wide, set before any logger is built.
	zerolog.TimeFieldFormat = TimeFormat
}

// newLogger builds the daemon's logger from a validated log config. The
// library packages get it passed in; only the binary decides where logs go.
// With a stream, the logger also writes every event at logstream.Level and
// above, as JSON whatever the console's format, to the stream's
// subscribers (the admin API's GET /log/stream), while w keeps lc.Level.
func newLogger(w io.Writer, lc mediation.LogConfig, stream *logstream.Hub) zerolog.Logger {
	level, err := zerolog.ParseLevel(lc.Level)
	if err != nil || lc.Level == "" {
		level = zerolog.InfoLevel
	}
	terminal := isTerminal(w)
	out := w
	if lc.Format == "console" || (lc.Format == "" && terminal) {
		out = zerolog.ConsoleWriter{Out: w, TimeFormat: TimeFormat, NoColor: !terminal,
			FieldsExclude: []string{"sip"}, FormatExtra: sipLines, FormatPrepare: printableMessage}
	}
	if stream != nil {
		return stream.Logger(out, level)
	}
	return zerolog.New(out).Level(level).With().Timestamp().Logger()
}

// isTerminal reports whether w is a character device. It avoids a terminal
// library: golang.org/x/term is not in the module graph.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// printableMessage escapes a peer's control characters in the console's
// message: a traced message's headline ("sip SIP/2.0 180 <reason
// phrase>") carries what a peer wrote, and a terminal would run it.
// zerolog quotes such field values itself, not the message. Done before
// formatting, so that the console keeps its own (bold) message style.
func printableMessage(ev map[string]any) error {
	if m, ok := ev[zerolog.MessageFieldName].(string); ok {
		ev[zerolog.MessageFieldName] = ladder.Printable(m)
	}
	return nil
}

// sipLines prints a traced SIP message (the "sip" field) under its log
// line, one indented line per line of the message, as a reader of a trace
// expects it instead of one line with escaped CRLFs.
func sipLines(ev map[string]any, buf *bytes.Buffer) error {
	msg, ok := ev["sip"].(string)
	if !ok || msg == "" {
		return nil
	}
	for _, line := range strings.Split(strings.TrimRight(msg, "\r\n"), "\n") {
		buf.WriteString("\n    ")
		// A peer's control characters are escaped: a terminal would
		// run them (clear the screen, fake a line).
		buf.WriteString(ladder.Printable(strings.TrimSuffix(line, "\r")))
	}
	return nil
}

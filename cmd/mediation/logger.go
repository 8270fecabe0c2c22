package main

import (
	"io"
	"os"
	"time"

	"github.com/rs/zerolog"

	"github.com/mediation-emulator/mediation/mediation"
)

// newLogger builds the daemon's logger from a validated log config. The
// library packages get it passed in; only the binary decides where logs go.
func newLogger(w io.Writer, lc mediation.LogConfig) zerolog.Logger {
	level, err := zerolog.ParseLevel(lc.Level)
	if err != nil || lc.Level == "" {
		level = zerolog.InfoLevel
	}
	terminal := isTerminal(w)
	out := w
	if lc.Format == "console" || (lc.Format == "" && terminal) {
		out = zerolog.ConsoleWriter{Out: w, TimeFormat: time.RFC3339, NoColor: !terminal}
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

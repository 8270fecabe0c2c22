package sip

import (
	"bytes"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"

	gosip "github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"
)

// TestSipgoLogger: sipgo's records reach zerolog tagged component=sipgo;
// its "ref went negative" warnings come at debug level (hidden at warn),
// its other warnings at warn, also through loggers made With attributes.
func TestSipgoLogger(t *testing.T) {
	for _, level := range []zerolog.Level{zerolog.WarnLevel, zerolog.DebugLevel} {
		var buf bytes.Buffer
		l := newSipgoLogger(zerolog.New(&buf).Level(level), nil).With("tx", "z9hG4bK1")
		l.Warn("TCP ref went negative", "ref", -1)
		l.Warn("something sipgo should not see")
		lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
		var demoted, kept string
		for _, line := range lines {
			if strings.Contains(line, "went negative") {
				demoted = line
			} else {
				kept = line
			}
		}
		if !strings.Contains(kept, `"level":"warn"`) || !strings.Contains(kept, `"component":"sipgo"`) || !strings.Contains(kept, `"tx":"z9hG4bK1"`) {
			t.Errorf("level %s: the other warning logged as %q", level, kept)
		}
		switch level {
		case zerolog.WarnLevel:
			if demoted != "" {
				t.Errorf("at warn level, %q", demoted)
			}
		case zerolog.DebugLevel:
			if !strings.Contains(demoted, `"level":"debug"`) || !strings.Contains(demoted, `"ref":-1`) {
				t.Errorf("at debug level, %q", demoted)
			}
		}
	}
}

// TestSipgoRefWarningDemoted: the warning sipgo really gives when a
// transaction releases a TCP connection already closed reaches the
// process-wide logger SetDefaultLogger installs at debug level, not warn.
func TestSipgoRefWarningDemoted(t *testing.T) {
	prev := gosip.DefaultLogger()
	t.Cleanup(func() { gosip.SetDefaultLogger(prev) })
	a, b := net.Pipe()
	defer b.Close()
	conn := &gosip.TCPConnection{Conn: a}
	conn.Ref(1)
	_ = conn.Close() // sets the count to 0, as sipgo does when a peer hangs up
	for _, level := range []zerolog.Level{zerolog.WarnLevel, zerolog.DebugLevel} {
		var buf bytes.Buffer
		SetDefaultLogger(zerolog.New(&buf).Level(level))
		_, _ = conn.TryClose() // a lingering transaction lets go: below 0
		got := buf.String()
		switch {
		case level == zerolog.WarnLevel && got != "":
			t.Errorf("at warn level: %q", got)
		case level == zerolog.DebugLevel && (!strings.Contains(got, "ref went negative") || !strings.Contains(got, `"level":"debug"`)):
			t.Errorf("at debug level: %q", got)
		}
	}
}

// TestSipgoDefaultLogger: a process that never calls SetDefaultLogger (a
// test binary, a tool) still has sipgo's process-wide logs go through
// sipgoHandler, not sipgo's plain-text default.
func TestSipgoDefaultLogger(t *testing.T) {
	if _, ok := gosip.DefaultLogger().Handler().(sipgoHandler); !ok {
		t.Fatalf("sipgo's default logger has handler %T", gosip.DefaultLogger().Handler())
	}
}

// TestSipgoReadErrorsSampled: sipgo's "Read error" (one per connection a
// peer resets) is counted every time and logged at info, one a second at
// most, with the number suppressed; nothing at warn level.
func TestSipgoReadErrorsSampled(t *testing.T) {
	for _, level := range []zerolog.Level{zerolog.WarnLevel, zerolog.InfoLevel} {
		var buf bytes.Buffer
		var n atomic.Uint64
		l := newSipgoLogger(zerolog.New(&buf).Level(level), &n).With("laddr", "127.0.0.1:5060")
		for range 100 {
			l.Error("Read error", "error", "read tcp 127.0.0.1:5060->127.0.0.1:40000: connection reset by peer")
		}
		if n.Load() != 100 {
			t.Errorf("level %s: %d read errors counted, want 100", level, n.Load())
		}
		lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
		switch {
		case level == zerolog.WarnLevel && buf.Len() != 0:
			t.Errorf("at warn level: %q", buf.String())
		case level == zerolog.InfoLevel && (len(lines) != 1 || !strings.Contains(lines[0], `"level":"info"`) ||
			!strings.Contains(lines[0], `"suppressed":0`) || !strings.Contains(lines[0], `"laddr"`)):
			t.Errorf("at info level: %q", buf.String())
		}
	}
}

// TestSipgoAckLoopDemoted: sipgo's error line for a non-2xx final response
// retransmitted after our ACK goes out at debug level, not error.
func TestSipgoAckLoopDemoted(t *testing.T) {
	for _, level := range []zerolog.Level{zerolog.WarnLevel, zerolog.DebugLevel} {
		var buf bytes.Buffer
		l := newSipgoLogger(zerolog.New(&buf).Level(level), nil)
		l.Error("ACK loop retransimission. Resending after T2", "tx", "z9hG4bK1__INVITE")
		got := buf.String()
		switch {
		case level == zerolog.WarnLevel && got != "":
			t.Errorf("at warn level: %q", got)
		case level == zerolog.DebugLevel && !strings.Contains(got, `"level":"debug"`):
			t.Errorf("at debug level: %q", got)
		}
	}
}

// gateSampler admits events below min only while open is set, as the
// daemon's logger does while someone follows its log stream
// (logstream.Hub.Logger).
type gateSampler struct {
	open *atomic.Bool
	min  zerolog.Level
}

func (g gateSampler) Sample(l zerolog.Level) bool { return l >= g.min || g.open.Load() }

// TestSipgoLoggerEnabledAsksSampler: behind a debug logger whose sampler
// drops debug events (the daemon's at log.level error while nobody
// follows the stream), sipgo's debug records are not enabled, so slog
// never builds them (with their caller's stack) only for zerolog to drop
// them; when the sampler admits them they are enabled and written, and
// read errors stay enabled and counted whatever the level.
func TestSipgoLoggerEnabledAsksSampler(t *testing.T) {
	var buf bytes.Buffer
	open := new(atomic.Bool)
	reads := new(atomic.Uint64)
	zl := zerolog.New(&buf).Level(zerolog.DebugLevel).Sample(gateSampler{open: open, min: zerolog.ErrorLevel})
	l := newSipgoLogger(zl, reads).With("tx", "z9hG4bK1")
	ctx := t.Context()
	if l.Enabled(ctx, slog.LevelDebug) || l.Enabled(ctx, slog.LevelWarn) {
		t.Error("debug and warn enabled while the sampler drops them")
	}
	l.Debug("Client transaction initialized")
	if buf.Len() != 0 {
		t.Errorf("written while the sampler drops debug: %q", buf.String())
	}
	if !l.Enabled(ctx, slog.LevelError) {
		t.Error("error level not enabled: read errors would not be counted")
	}
	l.Error(readErrorMsg, "error", "connection reset by peer")
	if reads.Load() != 1 {
		t.Errorf("read errors counted %d, want 1", reads.Load())
	}
	open.Store(true)
	buf.Reset()
	if !l.Enabled(ctx, slog.LevelDebug) {
		t.Error("debug not enabled while the sampler admits it")
	}
	l.Debug("Client transaction initialized")
	if !strings.Contains(buf.String(), `"level":"debug"`) || !strings.Contains(buf.String(), `"tx":"z9hG4bK1"`) {
		t.Errorf("with the sampler open, %q", buf.String())
	}
	// A logger without a sampler at warn: debug off, warn on.
	w := newSipgoLogger(zerolog.New(&buf).Level(zerolog.WarnLevel), nil)
	if w.Enabled(ctx, slog.LevelDebug) || !w.Enabled(ctx, slog.LevelWarn) {
		t.Error("a warn logger: want debug off, warn on")
	}
}

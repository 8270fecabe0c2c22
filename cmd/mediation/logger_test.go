package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/logstream"
)

func TestNewLogger(t *testing.T) {
	tests := []struct {
		lc       mediation.LogConfig
		wantJSON bool
		wantLogs []string // messages expected out of debug, info, warn
	}{
		{mediation.LogConfig{Level: "info", Format: "json"}, true, []string{"info-msg", "warn-msg"}},
		{mediation.LogConfig{Level: "debug", Format: "json"}, true, []string{"debug-msg", "info-msg", "warn-msg"}},
		{mediation.LogConfig{Level: "warn", Format: ""}, true, []string{"warn-msg"}}, // a buffer is no terminal
		{mediation.LogConfig{Level: "info", Format: "console"}, false, []string{"info-msg", "warn-msg"}},
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		log := newLogger(&buf, tt.lc, nil)
		log.Debug().Msg("debug-msg")
		log.Info().Str("k", "v").Msg("info-msg")
		log.Warn().Msg("warn-msg")
		lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
		if len(lines) != len(tt.wantLogs) {
			t.Fatalf("%+v: %d lines, want %d: %q", tt.lc, len(lines), len(tt.wantLogs), buf.String())
		}
		for i, line := range lines {
			var ev map[string]any
			isJSON := json.Unmarshal([]byte(line), &ev) == nil
			if isJSON != tt.wantJSON || !strings.Contains(line, tt.wantLogs[i]) {
				t.Errorf("%+v: line %q: json=%v want %v, want message %q", tt.lc, line, isJSON, tt.wantJSON, tt.wantLogs[i])
			}
			if isJSON && ev["time"] == nil {
				t.Errorf("%+v: line %q has no time", tt.lc, line)
			}
		}
	}
}

// TestLoggerTimeAndSIP: timestamps carry microseconds in both formats, and
// the console prints a traced SIP message as indented lines.
func TestLoggerTimeAndSIP(t *testing.T) {
	sipMsg := "INVITE sip:+15550100@127.0.0.1 SIP/2.0\r\nCall-ID: abc\r\nContent-Length: 0\r\n\r\n"
	var js bytes.Buffer
	log := newLogger(&js, mediation.LogConfig{Level: "debug", Format: "json"}, nil)
	log.Debug().Str("sip", sipMsg).Msg("sip INVITE")
	var ev map[string]any
	if err := json.Unmarshal(js.Bytes(), &ev); err != nil {
		t.Fatal(err)
	}
	ts, _ := ev["time"].(string)
	if _, err := time.Parse(TimeFormat, ts); err != nil || !regexp.MustCompile(`\.\d{6}`).MatchString(ts) {
		t.Errorf("json time %q: want microseconds (%v)", ts, err)
	}
	var con bytes.Buffer
	log = newLogger(&con, mediation.LogConfig{Level: "debug", Format: "console"}, nil)
	log.Debug().Str("side", "edge").Str("sip", sipMsg).Msg("sip INVITE")
	out := con.String()
	for _, want := range []string{"\n    INVITE sip:+15550100@127.0.0.1 SIP/2.0\n", "\n    Call-ID: abc\n", "side=edge"} {
		if !strings.Contains(out, want) {
			t.Errorf("console output lacks %q:\n%s", want, out)
		}
	}
	con.Reset()
	log.Debug().Str("sip", "OPTIONS sip:a@127.0.0.1 SIP/2.0\r\nUser-Agent: ua\x1b[2J\x1b]0;OWNED\x07end\r\n\r\n").Msg("sip OPTIONS")
	if got := con.String(); strings.ContainsAny(got, "\x1b\x07") || !strings.Contains(got, `User-Agent: ua\x1b[2J\x1b]0;OWNED\x07end`) {
		t.Errorf("a peer's control characters reach the console raw or are lost:\n%q", got)
	}
	// The headline too: a response's reason phrase is the peer's.
	con.Reset()
	log.Debug().Str("sip", "SIP/2.0 180 Ring\x1b[2J\r\n\r\n").Msg("sip SIP/2.0 180 Ring\x1b[2J\x1b]0;OWNED\x07")
	if got := con.String(); strings.ContainsAny(got, "\x1b\x07") || !strings.Contains(got, `sip SIP/2.0 180 Ring\x1b[2J\x1b]0;OWNED\x07`) {
		t.Errorf("a peer's control characters in the headline reach the console raw or are lost:\n%q", got)
	}
	if strings.Contains(out, `\r\n`) || strings.Contains(out, "sip=") {
		t.Errorf("console output has the message as one escaped field:\n%s", out)
	}
	if !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}`).MatchString(out) {
		t.Errorf("console time without microseconds:\n%s", out)
	}
}

// TestNewLoggerStream: with a stream, the console keeps its level and
// format while the stream's subscribers get the debug events as JSON.
func TestNewLoggerStream(t *testing.T) {
	stream := logstream.New(logstream.Options{})
	sub, err := stream.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	var con bytes.Buffer
	log := newLogger(&con, mediation.LogConfig{Level: "info", Format: "console"}, stream)
	log.Debug().Str("sip", "INVITE sip:x SIP/2.0\r\n").Msg("sip INVITE")
	log.Info().Msg("call ended")
	if out := con.String(); strings.Contains(out, "sip INVITE") || !strings.Contains(out, "call ended") || strings.HasPrefix(out, "{") {
		t.Errorf("console got %q; want the info event in console format", out)
	}
	sub.Close()
	srv := httptest.NewServer(stream.Handler(nil))
	defer srv.Close()
	res, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	sc.Scan() // started
	log.Debug().Str("sip", "BYE sip:x SIP/2.0\r\n").Msg("sip BYE")
	if !sc.Scan() {
		t.Fatal(sc.Err())
	}
	var ev map[string]any
	if err := json.Unmarshal(sc.Bytes(), &ev); err != nil || ev["message"] != "sip BYE" || ev["level"] != "debug" {
		t.Errorf("stream line %q (%v); want the debug event as JSON", sc.Text(), err)
	}
}

package main

// This file prints call summaries: a few aligned lines for a person, or one
// JSON object per line (--json) for a script.

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// reporter prints each call's summary as it ends and keeps the tally that
// decides the exit code.
type reporter struct {
	w      io.Writer
	json   bool
	calls  int
	failed int
}

func (r *reporter) report(s callSummary) {
	r.calls++
	s.Call = r.calls
	if !s.Pass {
		r.failed++
	}
	if r.json {
		_ = jsonLine(r.w, s)
		return
	}
	_, _ = io.WriteString(r.w, s.text())
}

// jsonLine writes v as one line of JSON, leaving "<->" in paths readable.
func jsonLine(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// exitCode is 0 when at least want calls ran and all passed (want 0: any
// number of calls).
func (r *reporter) exitCode(want int) int {
	if r.failed > 0 || r.calls < want {
		return exitFailure
	}
	return exitOK
}

// text renders the human-readable summary.
func (s callSummary) text() string {
	var b strings.Builder
	answered := fmt.Sprintf("%d not answered", s.Code)
	switch {
	case s.Answered:
		answered = fmt.Sprintf("%d answered", s.Code)
	case s.Code == 0:
		answered = "no final response" // none came: no code to show
	}
	fmt.Fprintf(&b, "call %d: %s %s -> %s, %s, ended by %s\n", s.Call, s.Direction, s.From, s.To, answered, s.EndedBy)
	line := func(label, format string, args ...any) {
		fmt.Fprintf(&b, "  %-12s %s\n", label, fmt.Sprintf(format, args...))
	}
	if ws := s.WebService; ws != nil {
		line("web service", "%s from %s: %s", statusText(ws.Status), ws.Source, ws.Reason)
	}
	line("media", "%s: %s", s.Media, s.Path)
	line("", "%s", s.MediaWhy)
	line("codec", "%s", orNone(s.Codec))
	line("packets", "sent %d, received %d, %s", s.Sent, s.Received, s.receptionText())
	if dtmf := s.dtmfText(); dtmf != "" {
		line("dtmf", "%s", dtmf)
	}
	verdict := "ok"
	if !s.AudioOK {
		verdict = "NOT OK"
	}
	line("audio", "heard %.0f Hz, want %.0f ±%.0f Hz: %s", s.HeardHz, s.WantHz, toneTolerance, verdict)
	if s.Pass {
		line("result", "PASS (expected %s)", s.Expect)
	} else {
		line("result", "FAIL: %s", strings.Join(s.Problems, "; "))
	}
	return b.String()
}

// receptionText is the RFC 3550 loss and jitter of what we received.
func (s callSummary) receptionText() string {
	if s.PacketsLost == nil || s.LossPercent == nil || s.JitterMs == nil {
		return "lost n/a, jitter n/a"
	}
	return fmt.Sprintf("lost %d (%.1f%%), jitter %.1f ms", *s.PacketsLost, *s.LossPercent, *s.JitterMs)
}

// dtmfText tells what became of the digits we were to send and which we
// received; "" when there is nothing to tell.
func (s callSummary) dtmfText() string {
	if s.DTMF == "" && s.DigitsSent == "" && s.DigitsReceived == "" && s.DigitsReceivedInBand == "" {
		return ""
	}
	var parts []string
	switch {
	case s.DTMF == "":
	case !s.Answered:
		parts = append(parts, fmt.Sprintf("not sent (%s): the call was not answered", s.DTMF))
	case s.noEvents && s.DigitsSent == "":
		parts = append(parts, fmt.Sprintf("not sent (%s): this SBC negotiates no telephone-event (--dtmf-pt -1)", s.DTMF))
	case s.DTMFPT < 0:
		parts = append(parts, fmt.Sprintf("not sent (%s): the far end did not negotiate telephone-event", s.DTMF))
	case s.DigitsSent == s.DTMF:
		parts = append(parts, "sent "+s.DTMF)
	default:
		parts = append(parts, fmt.Sprintf("sent %q of %s: the call ended first", s.DigitsSent, s.DTMF))
	}
	parts = append(parts, "received "+orNone(s.DigitsReceived))
	if s.DigitsReceivedInBand != "" {
		parts = append(parts, "in-band "+s.DigitsReceivedInBand)
	}
	if s.DTMFPT >= 0 {
		parts = append(parts, fmt.Sprintf("telephone-event PT %d", s.DTMFPT))
	}
	return strings.Join(parts, ", ")
}

func statusText(status int) string {
	if status == 0 {
		return "unreachable"
	}
	return fmt.Sprintf("HTTP %d", status)
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

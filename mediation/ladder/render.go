package ladder

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// ANSI colours of the terminal output.
const (
	colReset   = "\x1b[0m"
	colBold    = "\x1b[1m"
	colRed     = "\x1b[31m"
	colGreen   = "\x1b[32m"
	colYellow  = "\x1b[33m"
	colCyan    = "\x1b[36m"
	colMagenta = "\x1b[35m"
	colDim     = "\x1b[2m"
)

// lane is the width of one leg's arrow between two vertical lines.
const lane = 30

// Printer writes calls as text ladders, in colour or plain.
type Printer struct {
	W     io.Writer
	Color bool
}

func (p Printer) paint(col, s string) string {
	if !p.Color || s == "" {
		return s
	}
	return col + s + colReset
}

// Print writes one call: its header (numbers, gateway, bypass decision
// and reason, media path, end) and its ladder, the client's leg on the
// left, the gateway's on the right, a=x-bypassid marked where it is.
func (p Printer) Print(c *Call) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", p.paint(colBold, "call "+c.ID), c.Direction)
	if c.From != "" || c.To != "" {
		fmt.Fprintf(&b, "  %s -> %s", Printable(c.From), Printable(c.To))
	}
	if c.Gateway != "" {
		fmt.Fprintf(&b, "  gateway %s", c.Gateway)
	}
	fmt.Fprintf(&b, "  %s\n", c.Start.UTC().Format("2006-01-02T15:04:05.000000Z"))
	switch {
	case !c.Decided:
		fmt.Fprintf(&b, "  bypass   %s\n", p.paint(colDim, "no decision logged"))
	case c.Bypass:
		fmt.Fprintf(&b, "  bypass   %s  %s: %s\n", p.paint(colGreen, "yes"), c.Reason, Printable(c.Why))
	default:
		fmt.Fprintf(&b, "  bypass   %s  %s: %s\n", p.paint(colYellow, "no, anchored"), c.Reason, Printable(c.Why))
	}
	if c.Media != "" {
		fmt.Fprintf(&b, "  media    %s\n", c.Media)
	}
	switch {
	case !c.Ended:
		fmt.Fprintf(&b, "  end      %s\n", p.paint(colDim, "in progress (or its end is not in the log)"))
	case c.Answered:
		fmt.Fprintf(&b, "  end      %s, answered, %d ms\n", Printable(c.EndReason), c.DurationMS)
	default:
		fmt.Fprintf(&b, "  end      %s, %s\n", p.paint(colRed, Printable(c.EndReason)), p.paint(colRed, "not answered"))
	}
	fmt.Fprintf(&b, "\n  %-15s  %-*s%-*s%s\n", "time", lane, "client", lane, "mediation", "gateway")
	for _, m := range c.Messages {
		b.WriteString("  " + m.Time.UTC().Format("15:04:05.000000") + "  ")
		b.WriteString(p.row(m))
		b.WriteString("\n")
	}
	b.WriteString("\n")
	_, err := io.WriteString(p.W, b.String())
	return err
}

// row is one message's arrows and notes.
func (p Printer) row(m Message) string {
	label := Printable(m.Label)
	if len(label) > lane-8 {
		label = label[:lane-8]
	}
	right := m.Dir == "in" && m.Side == "edge" || m.Dir == "out" && m.Side == "gateway"
	var arrow string
	if right {
		arrow = "-- " + label + " " + strings.Repeat("-", lane-6-len(label)) + ">"
	} else {
		arrow = "<" + strings.Repeat("-", lane-6-len(label)) + " " + label + " --"
	}
	arrow = p.paint(p.labelColor(m), arrow)
	empty := strings.Repeat(" ", lane-1)
	var s string
	if m.Side == "gateway" {
		s = "|" + empty + "|" + arrow + "|"
	} else {
		s = "|" + arrow + "|" + empty + "|"
	}
	var notes []string
	if m.SDP != "" {
		notes = append(notes, "sdp "+Printable(m.SDP))
	}
	if m.BypassID != "" {
		notes = append(notes, p.paint(colMagenta, "a=x-bypassid:"+Printable(m.BypassID)))
	}
	if len(notes) > 0 {
		s += "  " + strings.Join(notes, " ")
	}
	return s
}

func (p Printer) labelColor(m Message) string {
	switch code := m.Status(); {
	case code == 0:
		return colCyan
	case code < 200:
		return colDim
	case code < 300:
		return colGreen
	case code < 400:
		return colYellow
	}
	return colRed
}

// WriteJSON writes each call as one JSON object per line.
func WriteJSON(w io.Writer, calls []*Call) error {
	enc := json.NewEncoder(w)
	for _, c := range calls {
		if err := enc.Encode(c); err != nil {
			return err
		}
	}
	return nil
}

// Printable is s safe to print on a terminal: a control character (ESC,
// BEL, NUL, C1: what a hostile peer would put in a reason phrase or a
// header to clear the screen, set the title or fake a line) is shown as
// \xNN; everything else is kept.
func Printable(s string) string {
	bad := func(r rune) bool { return r < 0x20 && r != '\t' || r == 0x7f || r >= 0x80 && r < 0xa0 }
	if strings.IndexFunc(s, bad) < 0 {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if bad(r) {
			fmt.Fprintf(&b, `\x%02x`, r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Package ladder rebuilds calls from the mediation server's JSON log: per
// call, the SIP messages of both legs in wire order (a ladder diagram), the
// media bypass decision and its reason, the media path and how the call
// ended. `mediation trace` prints it; the web page draws it.
package ladder

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"
)

// Message is one SIP message of a call as the server's trace logged it.
type Message struct {
	Time time.Time `json:"time"`
	// Side is "edge" (the client's leg) or "gateway" (the SBC's).
	Side string `json:"side"`
	// Dir is "in" (received by the server) or "out" (sent).
	Dir       string `json:"dir"`
	Transport string `json:"transport,omitempty"`
	Local     string `json:"local,omitempty"`
	Remote    string `json:"remote,omitempty"`
	// Label is the method or "status reason" ("INVITE", "200 OK").
	Label string `json:"label"`
	// CSeq is the CSeq header's value ("1 INVITE").
	CSeq string `json:"cseq,omitempty"`
	// SDP is the c= address and m=audio port of the message's SDP, "" when
	// it has none ("192.0.2.1:49152").
	SDP string `json:"sdp,omitempty"`
	// BypassID is the message's a=x-bypassid, if any.
	BypassID string `json:"bypass_id,omitempty"`
	// Text is the whole message.
	Text string `json:"text"`
}

// Request reports a request (not a response).
func (m Message) Request() bool { return !isStatus(m.Label) }

func isStatus(label string) bool {
	return len(label) >= 3 && label[0] >= '1' && label[0] <= '6' && label[1] >= '0' && label[1] <= '9'
}

// Status is the response code, 0 for a request.
func (m Message) Status() int {
	if !isStatus(m.Label) {
		return 0
	}
	var code int
	fmt.Sscanf(m.Label, "%d", &code)
	return code
}

// Call is everything the log says about one call.
type Call struct {
	ID        string    `json:"call"`
	Direction string    `json:"direction,omitempty"`
	From      string    `json:"from,omitempty"`
	To        string    `json:"to,omitempty"`
	Gateway   string    `json:"gateway,omitempty"`
	Start     time.Time `json:"start"`
	// CallIDs are the SIP Call-IDs of its legs.
	CallIDs []string `json:"sip_call_ids,omitempty"`
	// Decided tells whether a bypass decision was logged; Bypass, Reason
	// and Why are that decision.
	Decided bool   `json:"decided"`
	Bypass  bool   `json:"bypass"`
	Reason  string `json:"reason,omitempty"`
	Why     string `json:"why,omitempty"`
	// Media is the media path, from the decision and the SDP.
	Media string `json:"media,omitempty"`
	// Ended tells whether the call's end was logged.
	Ended      bool      `json:"ended"`
	Answered   bool      `json:"answered"`
	EndReason  string    `json:"end_reason,omitempty"`
	DurationMS int64     `json:"duration_ms,omitempty"`
	Messages   []Message `json:"messages"`
}

// stampLayout is the log's own time format (microseconds, fixed width,
// UTC): a ladder's times sort and join with the log's as strings, which
// RFC 3339 with its trailing zeros cut ("08.287Z" after "08.287174Z")
// does not.
const stampLayout = "2006-01-02T15:04:05.000000Z07:00"

// stamp is t in stampLayout, "" for the zero time.
func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(stampLayout)
}

// MarshalJSON writes the message with its time as the log writes times.
func (m Message) MarshalJSON() ([]byte, error) {
	type plain Message
	return json.Marshal(struct {
		plain
		Time string `json:"time"`
	}{plain(m), stamp(m.Time)})
}

// MarshalJSON writes the call with its start as the log writes times.
func (c Call) MarshalJSON() ([]byte, error) {
	type plain Call
	return json.Marshal(struct {
		plain
		Start string `json:"start"`
	}{plain(c), stamp(c.Start)})
}

// Failed reports a call that ended unanswered.
func (c *Call) Failed() bool { return c.Ended && !c.Answered }

// NoEventsError is an input without a single JSON log line (a console-
// format log, the wrong file): nothing to rebuild, which is not the same
// as a log with no calls.
type NoEventsError struct {
	// Lines is how many lines were read.
	Lines int
}

func (e *NoEventsError) Error() string {
	return fmt.Sprintf("no JSON log line in %d lines of input (want the JSON log of mediation serve --log-format json)", e.Lines)
}

// Read rebuilds the calls of a JSON log, in the order they started. Lines
// that are not JSON, or not about a call, are skipped; an input with no
// JSON log line at all is a *NoEventsError.
func Read(r io.Reader) ([]*Call, error) {
	b := NewBuilder()
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 4<<20)
	lines := 0
	for sc.Scan() {
		lines++
		b.Line(sc.Bytes())
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading the log: %w", err)
	}
	if b.events == 0 {
		return nil, &NoEventsError{Lines: lines}
	}
	return b.Calls(), nil
}

// Builder rebuilds calls line by line (a log being followed).
type Builder struct {
	calls map[string]*Call
	order []*Call
	// events counts the lines that were JSON log events.
	events int
}

// NewBuilder starts with no calls.
func NewBuilder() *Builder { return &Builder{calls: map[string]*Call{}} }

// event is the part of a log line the ladder reads.
type event struct {
	Time       string `json:"time"`
	Message    string `json:"message"`
	Call       string `json:"call"`
	Direction  string `json:"direction"`
	From       string `json:"from"`
	To         string `json:"to"`
	Gateway    string `json:"gateway"`
	Bypass     *bool  `json:"bypass"`
	Reason     string `json:"reason"`
	Why        string `json:"why"`
	Answered   *bool  `json:"answered"`
	DurationMS int64  `json:"duration_ms"`
	Side       string `json:"side"`
	Dir        string `json:"dir"`
	Transport  string `json:"transport"`
	Local      string `json:"local"`
	Remote     string `json:"remote"`
	SIP        string `json:"sip"`
	SIPCallID  string `json:"sip_call_id"`
	// ACallID and BCallID are the legs' Call-IDs on every call line at
	// any level (b_call_id from "call answered" on).
	ACallID string `json:"a_call_id"`
	BCallID string `json:"b_call_id"`
}

// Line takes one line of the log; it reports whether the line was about a
// call.
func (b *Builder) Line(line []byte) bool { return b.Add(line) != nil }

// Add takes one line of the log and returns the call it was about, nil for
// none.
func (b *Builder) Add(line []byte) *Call {
	var ev event
	if json.Unmarshal(line, &ev) != nil {
		return nil
	}
	if trimmed := strings.TrimSpace(string(line)); strings.HasPrefix(trimmed, "{") {
		b.events++
	}
	if ev.Call == "" {
		return nil
	}
	at, _ := time.Parse(time.RFC3339Nano, ev.Time)
	c := b.calls[ev.Call]
	if c == nil {
		c = &Call{ID: ev.Call, Start: at}
		b.calls[ev.Call] = c
		b.order = append(b.order, c)
	}
	if c.Direction == "" {
		c.Direction = ev.Direction
	}
	if ev.Gateway != "" {
		c.Gateway = ev.Gateway
	}
	for _, id := range []string{ev.SIPCallID, ev.ACallID, ev.BCallID} {
		if id != "" && !slices.Contains(c.CallIDs, id) {
			c.CallIDs = append(c.CallIDs, id)
		}
	}
	switch {
	case ev.SIP != "" && ev.Dir != "":
		c.add(message(at, ev))
	case ev.Message == "call started":
		c.From, c.To = ev.From, ev.To
	case ev.Message == "media bypass decision" && ev.Bypass != nil:
		c.Decided, c.Bypass, c.Reason, c.Why = true, *ev.Bypass, ev.Reason, ev.Why
	case ev.Message == "INVITE refused: no call":
		// Refused before a call began (400, 505, 503, ...): ended, with
		// our response as the reason; a copy of an ended call's INVITE
		// leaves that call's end as it was.
		if !c.Ended {
			c.Ended, c.EndReason = true, ev.Reason
		}
	case ev.Message == "call ended":
		c.Ended, c.EndReason, c.DurationMS = true, ev.Reason, ev.DurationMS
		if ev.Answered != nil {
			c.Answered = *ev.Answered
		}
		if ev.Bypass != nil && !c.Decided {
			c.Bypass = *ev.Bypass
		}
	}
	c.Media = c.mediaPath()
	return c
}

// Take removes a call and returns it (nil if there is none): a call
// followed to its end is printed and forgotten.
func (b *Builder) Take(id string) *Call {
	c := b.calls[id]
	if c == nil {
		return nil
	}
	delete(b.calls, id)
	b.order = slices.DeleteFunc(b.order, func(o *Call) bool { return o == c })
	return c
}

// Add puts a message in the call in wire order.
func (c *Call) Add(m Message) {
	c.add(m)
	c.Media = c.mediaPath()
}

// Update recomputes what is derived from the call's fields (the media
// path) after they were set.
func (c *Call) Update() { c.Media = c.mediaPath() }

// add puts a message in wire order (log lines of several goroutines may
// interleave by microseconds).
func (c *Call) add(m Message) {
	i := sort.Search(len(c.Messages), func(i int) bool { return c.Messages[i].Time.After(m.Time) })
	c.Messages = append(c.Messages, Message{})
	copy(c.Messages[i+1:], c.Messages[i:])
	c.Messages[i] = m
	if m.Time.Before(c.Start) || c.Start.IsZero() {
		c.Start = m.Time
	}
}

// Calls are the calls so far, in the order they started.
func (b *Builder) Calls() []*Call {
	out := append([]*Call(nil), b.order...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Start.Before(out[j].Start) })
	return out
}

// message reads one traced SIP message.
func message(at time.Time, ev event) Message {
	return NewMessage(at, ev.Side, ev.Dir, ev.Transport, ev.Local, ev.Remote, ev.SIP)
}

// NewMessage reads one SIP message (text) that crossed side in dir.
func NewMessage(at time.Time, side, dir, transport, local, remote, text string) Message {
	m := Message{Time: at, Side: side, Dir: dir, Transport: transport, Local: local, Remote: remote, Text: text}
	head, body, _ := strings.Cut(strings.ReplaceAll(text, "\r\n", "\n"), "\n\n")
	lines := strings.Split(head, "\n")
	first := lines[0]
	if rest, ok := strings.CutPrefix(first, "SIP/2.0 "); ok {
		m.Label = rest
	} else {
		m.Label, _, _ = strings.Cut(first, " ")
	}
	for _, l := range lines[1:] {
		name, value, ok := strings.Cut(l, ":")
		if ok && strings.EqualFold(strings.TrimSpace(name), "CSeq") {
			m.CSeq = strings.TrimSpace(value)
		}
	}
	m.SDP, m.BypassID = sdpSummary(body)
	return m
}

// sdpSummary is the audio address of an SDP body and its a=x-bypassid.
func sdpSummary(body string) (addr, bypassID string) {
	var ip, port string
	inAudio := false
	for _, l := range strings.Split(body, "\n") {
		l = strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(l, "m="):
			inAudio = strings.HasPrefix(l, "m=audio ")
			if inAudio {
				if f := strings.Fields(l); len(f) > 1 {
					port = f[1]
				}
			}
		case strings.HasPrefix(l, "c="):
			if f := strings.Fields(l); len(f) == 3 && (ip == "" || inAudio) {
				ip = f[2]
			}
		case strings.HasPrefix(l, "a=x-bypassid:"):
			bypassID = strings.TrimPrefix(l, "a=x-bypassid:")
		}
	}
	if port == "" {
		return "", bypassID
	}
	if strings.Contains(ip, ":") {
		return "[" + ip + "]:" + port, bypassID
	}
	return ip + ":" + port, bypassID
}

// mediaPath says where the call's audio flows, from the last SDP each
// peer sent and the server's own: "client A <-> gateway B (direct)" for a
// bypassed call, "client A <-> B mediation C <-> gateway D" for an
// anchored one.
func (c *Call) mediaPath() string {
	var peer, ours [2]string // edge, gateway
	for _, m := range c.Messages {
		if m.SDP == "" {
			continue
		}
		i := 0
		if m.Side == "gateway" {
			i = 1
		}
		if m.Dir == "in" {
			peer[i] = m.SDP
		} else {
			ours[i] = m.SDP
		}
	}
	if peer[0] == "" && peer[1] == "" {
		return ""
	}
	if c.Ended && !c.Answered {
		return "none: the call was not answered"
	}
	or := func(s string) string {
		if s == "" {
			return "?"
		}
		return s
	}
	if c.Decided && c.Bypass {
		return fmt.Sprintf("client %s <-> gateway %s (direct, bypassing the server)", or(peer[0]), or(peer[1]))
	}
	return fmt.Sprintf("client %s <-> %s mediation %s <-> gateway %s (anchored)", or(peer[0]), or(ours[0]), or(ours[1]), or(peer[1]))
}

package ladder

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

const invite = `{"level":"debug","call":"c1","direction":"outbound","side":"edge","dir":"in","transport":"UDP","local":"127.0.0.1:5070","remote":"127.0.0.1:5090","sip_call_id":"abc","sip":"INVITE sip:+15550100@127.0.0.1:5070 SIP/2.0\r\nCSeq: 1 INVITE\r\nContent-Type: application/sdp\r\n\r\nv=0\r\nc=IN IP4 192.0.2.7\r\nm=audio 5000 RTP/AVP 0\r\na=x-bypassid:be38f190\r\n","time":"2026-12-05T23:56:55.254552Z","message":"sip INVITE sip:+15550100@127.0.0.1:5070 SIP/2.0"}`

func TestMessageFields(t *testing.T) {
	calls, err := Read(strings.NewReader("not json\n" + invite + "\n"))
	if err != nil || len(calls) != 1 {
		t.Fatalf("%d calls, %v", len(calls), err)
	}
	m := calls[0].Messages[0]
	if m.Label != "INVITE" || m.CSeq != "1 INVITE" || m.SDP != "192.0.2.7:5000" || m.BypassID != "be38f190" || !m.Request() {
		t.Errorf("message %+v", m)
	}
	if calls[0].CallIDs[0] != "abc" || calls[0].Decided {
		t.Errorf("call %+v", calls[0])
	}
}

func TestPrinterColour(t *testing.T) {
	calls, _ := Read(strings.NewReader(invite))
	var plain, colour bytes.Buffer
	if err := (Printer{W: &plain}).Print(calls[0]); err != nil {
		t.Fatal(err)
	}
	if err := (Printer{W: &colour, Color: true}).Print(calls[0]); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(plain.String(), "\x1b[") || !strings.Contains(colour.String(), colMagenta+"a=x-bypassid:be38f190") {
		t.Errorf("plain:\n%s\ncolour:\n%q", plain.String(), colour.String())
	}
	if !strings.Contains(plain.String(), "no decision logged") || !strings.Contains(plain.String(), "in progress") {
		t.Errorf("a call without decision or end:\n%s", plain.String())
	}
}

// TestBuilderAddTake: Add names the call a line was about; Take removes a
// call, which a later line starts afresh.
func TestBuilderAddTake(t *testing.T) {
	b := NewBuilder()
	if b.Add([]byte(`{"message":"not about a call"}`)) != nil {
		t.Fatal("a line without a call gave a call")
	}
	c := b.Add([]byte(invite))
	if c == nil || c.ID != "c1" || len(c.Messages) != 1 {
		t.Fatalf("Add: %+v", c)
	}
	ended := b.Add([]byte(`{"call":"c1","message":"call ended","reason":"bye from edge","answered":true,"time":"2026-12-05T23:56:56Z"}`))
	if ended != c || !c.Ended || !c.Answered {
		t.Fatalf("end: %+v", ended)
	}
	if got := b.Take("c1"); got != c || len(b.Calls()) != 0 || b.Take("c1") != nil {
		t.Fatalf("Take: %v, %d calls left", got, len(b.Calls()))
	}
	if again := b.Add([]byte(invite)); again == c || len(again.Messages) != 1 {
		t.Fatalf("after Take: %+v", again)
	}
}

// TestBuilderRefusedInvite: an INVITE refused before a call began ends
// its call, failed, with our response as the reason: it was a call in
// progress for ever in the ladders and trace --follow.
func TestBuilderRefusedInvite(t *testing.T) {
	b := NewBuilder()
	c := b.Add([]byte(invite))
	b.Add([]byte(`{"level":"debug","call":"c1","sip_call_id":"x","reason":"400 Missing Contact","time":"2026-12-05T23:56:56Z","message":"INVITE refused: no call"}`))
	if !c.Ended || c.Answered || !c.Failed() || c.EndReason != "400 Missing Contact" {
		t.Fatalf("refused INVITE's call: %+v", c)
	}
}

// TestJSONTimesFixedWidth: a ladder's times are written as the log
// writes them, microseconds in full, so that they sort as strings: with
// trailing zeros cut, "08.287Z" sorted after "08.287174Z".
func TestJSONTimesFixedWidth(t *testing.T) {
	at := time.Date(2026, 12, 7, 2, 42, 8, 287000000, time.UTC)
	c := Call{ID: "c1", Start: at, Messages: []Message{{Time: at, Label: "INVITE"}, {Time: at.Add(174 * time.Microsecond), Label: "100 Trying"}}}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Start    string `json:"start"`
		Messages []struct {
			Time  string `json:"time"`
			Label string `json:"label"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.Start != "2026-12-07T02:42:08.287000Z" || len(got.Messages) != 2 ||
		got.Messages[0].Time != "2026-12-07T02:42:08.287000Z" || got.Messages[1].Time != "2026-12-07T02:42:08.287174Z" || got.Messages[0].Label != "INVITE" {
		t.Errorf("JSON %s", b)
	}
}

// TestPrinterEscapesControlCharacters: a peer's reason phrase, From or SDP
// with ESC, BEL or NUL is printed escaped: on a terminal it would clear
// the screen, set the title or fake a ladder line.
func TestPrinterEscapesControlCharacters(t *testing.T) {
	hostile := `{"level":"debug","call":"c1","direction":"outbound","side":"gateway","dir":"in","transport":"UDP","local":"127.0.0.1:5060","remote":"127.0.0.1:5090","sip_call_id":"abc","sip":"SIP/2.0 486 B\u001b[2J\u001b[H\u0000X\r\nCSeq: 1 INVITE\r\nContent-Type: application/sdp\r\n\r\nv=0\r\nc=IN IP4 192.0.2.7\r\nm=audio 5000 RTP/AVP 0\r\na=x-bypassid:be\u001b]0;PWNED\u0007\r\n","time":"2026-12-05T23:56:55.254552Z","message":"sip"}`
	calls, err := Read(strings.NewReader(hostile + "\n"))
	if err != nil || len(calls) != 1 {
		t.Fatalf("%d calls, %v", len(calls), err)
	}
	var out bytes.Buffer
	if err := (Printer{W: &out}).Print(calls[0]); err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(out.String(), "\x1b\x00\x07") {
		t.Errorf("control characters printed raw:\n%q", out.String())
	}
	if !strings.Contains(out.String(), `486 B\x1b[2J`) || !strings.Contains(out.String(), `be\x1b]0;PWNED\x07`) {
		t.Errorf("escaped label or bypass ID missing:\n%s", out.String())
	}
}

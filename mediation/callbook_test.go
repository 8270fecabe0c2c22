package mediation

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/sip"
)

// TestCallBookSamples: above bookRate new calls a second the book takes a
// burst of bookCalls and then a sample; a call it left out stays out
// (its later messages do not bring it in with half a ladder).
func TestCallBookSamples(t *testing.T) {
	b := newCallBook()
	edge := &sip.Side{Name: "edge"}
	at := time.Now()
	wire := func(m gosip.Message, dir string) *sip.Wire {
		return &sip.Wire{Side: edge, Dir: dir, Transport: "UDP", Time: at, Msg: m}
	}
	invite := func(n int) *gosip.Request {
		req := gosip.NewRequest(gosip.INVITE, gosip.Uri{Scheme: "sip", User: "+15550100", Host: "127.0.0.1"})
		req.AppendHeader(&gosip.ToHeader{Address: gosip.Uri{Scheme: "sip", User: "+15550100", Host: "127.0.0.1"}, Params: gosip.NewParams()})
		cid := gosip.CallIDHeader(fmt.Sprintf("call-%d", n))
		req.AppendHeader(&cid)
		return req
	}
	const offered = bookCalls + 50
	for n := range offered {
		b.Wire(wire(invite(n), sip.In), fmt.Sprintf("id-%d", n))
	}
	if got := len(b.snapshot()); got != bookCalls {
		t.Fatalf("%d calls in the book after %d INVITEs in one instant, want the burst of %d", got, offered, bookCalls)
	}
	// A message of a call left out does not bring it in.
	b.Wire(wire(gosip.NewResponseFromRequest(invite(offered-1), 200, "OK", nil), sip.Out), fmt.Sprintf("id-%d", offered-1))
	for _, c := range b.snapshot() {
		if c.ID == fmt.Sprintf("id-%d", offered-1) {
			t.Fatal("a call left out of the book came in with its 200")
		}
	}
	// A second later the rate admits new calls again (and the oldest go).
	at = at.Add(time.Second)
	b.Wire(wire(invite(offered), sip.In), "late")
	found := false
	for _, c := range b.snapshot() {
		found = found || c.ID == "late"
	}
	if !found {
		t.Error("a call a second later was not taken")
	}
}

// TestCallBookBytesBounded: the book keeps at most bookMessageBytes of a
// message, saying what it cut, and at most bookCallBytes of a call's
// messages: a trusted peer's large re-INVITEs could park 640 MiB in it.
func TestCallBookBytesBounded(t *testing.T) {
	b := newCallBook()
	edge := &sip.Side{Name: "edge"}
	at := time.Now()
	req := gosip.NewRequest(gosip.INVITE, gosip.Uri{Scheme: "sip", User: "+15550100", Host: "127.0.0.1"})
	cid := gosip.CallIDHeader("big")
	req.AppendHeader(&cid)
	req.AppendHeader(&gosip.ToHeader{Address: gosip.Uri{Scheme: "sip", Host: "127.0.0.1"}, Params: gosip.NewParams()})
	req.SetBody(bytes.Repeat([]byte("a=candidate:1 1 UDP 2130706431 127.0.0.1 50000 typ host\r\n"), 1000)) // 58 KB
	for range 100 {
		b.Wire(&sip.Wire{Side: edge, Dir: sip.In, Transport: "UDP", Time: at, Msg: req}, "c1")
	}
	calls := b.snapshot()
	if len(calls) != 1 {
		t.Fatalf("%d calls in the book", len(calls))
	}
	total := 0
	for _, m := range calls[0].Messages {
		total += len(m.Text)
		if len(m.Text) > bookMessageBytes+100 {
			t.Errorf("a message kept whole: %d bytes", len(m.Text))
		}
	}
	if total > bookCallBytes || len(calls[0].Messages) == 0 {
		t.Errorf("the call's messages keep %d bytes in %d messages, want at most %d", total, len(calls[0].Messages), bookCallBytes)
	}
	if !strings.Contains(calls[0].Messages[0].Text, "more bytes not kept]") {
		t.Error("a cut message does not say so")
	}
}

// TestCallBookRefusedKeepsAnEnd: a refusal ends a call of the book that
// has not ended (a refused INVITE; a copy of an ended call's INVITE whose
// call has left the book, which began an entry of its own), never one
// that has: a copy answered while its call is still there leaves that
// call's end as it was.
func TestCallBookRefusedKeepsAnEnd(t *testing.T) {
	b := newCallBook()
	edge := &sip.Side{Name: "edge"}
	at := time.Now()
	for _, id := range []string{"ended", "copy"} {
		req := gosip.NewRequest(gosip.INVITE, gosip.Uri{Scheme: "sip", Host: "127.0.0.1"})
		cid := gosip.CallIDHeader(id)
		req.AppendHeader(&cid)
		req.AppendHeader(&gosip.ToHeader{Address: gosip.Uri{Scheme: "sip", Host: "127.0.0.1"}, Params: gosip.NewParams()})
		b.Wire(&sip.Wire{Side: edge, Dir: sip.In, Transport: "UDP", Time: at, Msg: req}, id)
	}
	b.record(Record{CallID: "ended", EndReason: "bye from edge", StartTime: at, EndTime: at.Add(time.Second)}, true)
	b.refused("ended", "486 Busy Here (a copy of an ended call's INVITE)", at.Add(2*time.Second))
	b.refused("copy", "486 Busy Here (a copy of an ended call's INVITE)", at.Add(2*time.Second))
	for _, c := range b.snapshot() {
		want := map[string]string{"ended": "bye from edge", "copy": "486 Busy Here (a copy of an ended call's INVITE)"}[c.ID]
		if !c.Ended || c.EndReason != want {
			t.Errorf("call %s: ended %v, %q; want %q", c.ID, c.Ended, c.EndReason, want)
		}
	}
}

package sip

import (
	"reflect"
	"testing"
	"unsafe"

	gosip "github.com/emiago/sipgo/sip"
)

// TestPackDialog: a packed dialog is equal to what it was, its strings
// lie in one buffer (one copy of a string the dialog holds twice), and
// its URIs' parameters are copies: the message they came from is not
// changed, nor shares them any more.
func TestPackDialog(t *testing.T) {
	inv := parseReq(t,
		"INVITE sip:b@10.0.0.2 SIP/2.0",
		"Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKa",
		"From: \"Alice\" <sip:+15551234@10.0.0.1;user=phone>;tag=theirs",
		"To: <sip:+15559876@10.0.0.2;user=phone>",
		"Call-ID: c1@10.0.0.1",
		"CSeq: 7 INVITE",
		"Contact: <sip:a@10.0.0.1:5062;transport=udp;ms-opaque=abc>",
		"Record-Route: <sip:p1.example;lr>",
		"Allow: INVITE, ACK, BYE, CANCEL, UPDATE",
		"Supported: timer, 100rel")
	inv.SetSource("10.0.0.1:5062")
	d := NewUASDialog(&Incoming{Req: inv, Side: &Side{Name: "test"}}, "ours")
	want := *d
	want.RouteSet = append([]gosip.Uri(nil), d.RouteSet...)
	want.Allow = append([]string(nil), d.Allow...)
	contactParams := inv.Contact().Address.UriParams
	wantParams := append(gosip.HeaderParams(nil), contactParams...)

	var p Pack
	d.KeepStrings(&p)
	p.Copy()
	d.KeepStrings(&p)

	if !reflect.DeepEqual(*d, want) {
		t.Fatalf("packed dialog\n%+v\nwant\n%+v", *d, want)
	}
	if !reflect.DeepEqual(inv.Contact().Address.UriParams, wantParams) {
		t.Fatalf("the INVITE's Contact parameters changed: %v", inv.Contact().Address.UriParams)
	}
	if &d.RemoteTarget.UriParams[0] == &contactParams[0] {
		t.Fatal("the packed Contact's parameters are the INVITE's")
	}
	strs := []string{d.CallID, d.LocalTag, d.RemoteTag, d.Local.User, d.Local.Host, d.Remote.User,
		d.RemoteTarget.Host, d.RemoteTarget.UriParams[1].V, d.RouteSet[0].Host, d.Transport, d.Flow, d.Allow[4]}
	lo, hi := ^uintptr(0), uintptr(0)
	for i, s := range strs {
		if s == "" {
			t.Fatalf("string %d of the dialog is empty", i)
		}
		at := uintptr(unsafe.Pointer(unsafe.StringData(s)))
		lo, hi = min(lo, at), max(hi, at+uintptr(len(s)))
	}
	if hi-lo > uintptr(p.buf.Len()) {
		t.Fatalf("packed strings span %d bytes, more than the pack's buffer of %d", hi-lo, p.buf.Len())
	}
	if p.buf.Len() != p.size {
		t.Fatalf("pack copied %d bytes, counted %d", p.buf.Len(), p.size)
	}
	// 10.0.0.1 is the host of From and Contact: one copy.
	if unsafe.StringData(d.Remote.Host) != unsafe.StringData(d.RemoteTarget.Host) {
		t.Fatal("an equal string packed twice")
	}
	if got := p.Find("c1@10.0.0.1"); unsafe.StringData(got) != unsafe.StringData(d.CallID) {
		t.Fatal("Find does not give the packed copy")
	}
	if got := p.Find("not packed"); got != "not packed" {
		t.Fatalf("Find of a string not packed gave %q", got)
	}
}

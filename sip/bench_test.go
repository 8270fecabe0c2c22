package sip

import (
	"net"
	"os"
	"strconv"
	"testing"

	gosip "github.com/emiago/sipgo/sip"
)

// benchInvite is a Skype for Business client's INVITE as it reaches the
// edge side: the real SfB SDP of testdata (about 2.6 kB in all).
func benchInvite(b testing.TB) []byte {
	b.Helper()
	body, err := os.ReadFile("../testdata/sdp/sfb-bypass-offer.sdp")
	if err != nil {
		b.Fatal(err)
	}
	head := "INVITE sip:+15550100@127.0.0.1:5070;transport=udp SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP 127.0.0.1:5090;branch=z9hG4bK-524287-1---8a3b1c\r\n" +
		"Max-Forwards: 70\r\n" +
		"From: \"Alice Contoso\" <sip:alice@contoso.example>;tag=4eb952ba52;epid=4eb952ba52\r\n" +
		"To: <sip:+15550100@contoso.example;user=phone>\r\n" +
		"Call-ID: 9f0a1c3e5b7d4f2a8c6e0b1d3f5a7c9e\r\n" +
		"CSeq: 1 INVITE\r\n" +
		"Contact: <sip:alice@127.0.0.1:5090;transport=udp>\r\n" +
		"User-Agent: UCCAPI/16.0.7870.2020 OC/16.0.7870.2020 (Skype for Business)\r\n" +
		"Supported: ms-early-media, timer, 100rel\r\n" +
		"Allow: INVITE, BYE, ACK, CANCEL, INFO, UPDATE, REFER, NOTIFY, BENOTIFY, OPTIONS\r\n" +
		"Content-Type: application/sdp\r\n"
	return []byte(head + "Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + string(body))
}

// BenchmarkParseInvite: sipgo parsing an SfB INVITE from its datagram, the
// first thing the server does with every request.
func BenchmarkParseInvite(b *testing.B) {
	data := benchInvite(b)
	p := gosip.NewParser()
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := p.ParseSIP(data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWireSize: the UDP size check of an SfB INVITE, counted as it
// is (wireSize) and written out in full as it was (serialisedSize).
func BenchmarkWireSize(b *testing.B) {
	msg, err := gosip.NewParser().ParseSIP(benchInvite(b))
	if err != nil {
		b.Fatal(err)
	}
	for _, bb := range []struct {
		name string
		size func(gosip.Message) int
	}{{"counted", wireSize}, {"written", serialisedSize}} {
		b.Run(bb.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if bb.size(msg) <= 0 {
					b.Fatal("no size")
				}
			}
		})
	}
}

// BenchmarkCheckAndClassify: the checks and the classification every
// request goes through before it reaches a call.
func BenchmarkCheckAndClassify(b *testing.B) {
	msg, err := gosip.NewParser().ParseSIP(benchInvite(b))
	if err != nil {
		b.Fatal(err)
	}
	req := msg.(*gosip.Request)
	known := fakeDialogs{dialogs: map[string]bool{}, invites: map[string]bool{}}
	b.ReportAllocs()
	for b.Loop() {
		if err := CheckRequest(req); err != nil {
			b.Fatal(err)
		}
		if c := Classify(req, known); c != Initial {
			b.Fatalf("classified %s", c)
		}
	}
}

// benchDialog is an answered dialog behind two loose routers, as a BYE or
// re-INVITE from the call's goroutine sees it.
func benchDialog() *Dialog {
	rr := func(host string) gosip.Uri {
		return gosip.Uri{Scheme: "sip", Host: host, Port: 5060, UriParams: gosip.HeaderParams{{K: "lr", V: ""}, {K: "transport", V: "udp"}}}
	}
	return &Dialog{CallID: "9f0a1c3e5b7d4f2a8c6e0b1d3f5a7c9e", LocalTag: "4eb952ba52", RemoteTag: "a8c6e0b1d3",
		Local:  gosip.Uri{Scheme: "sip", User: "alice", Host: "contoso.example"},
		Remote: gosip.Uri{Scheme: "sip", User: "+15550100", Host: "contoso.example", UriParams: gosip.HeaderParams{{K: "user", V: "phone"}}},
		RemoteTarget: gosip.Uri{Scheme: "sip", User: "+15550100", Host: "127.0.0.1", Port: 5070,
			UriParams: gosip.HeaderParams{{K: "transport", V: "udp"}}},
		RouteSet:  []gosip.Uri{rr("127.0.0.2"), rr("127.0.0.3")},
		Transport: "UDP", LocalSeq: 1}
}

// BenchmarkDialogNewRequest: building an in-dialog BYE (Route set, From,
// To, Call-ID, CSeq).
func BenchmarkDialogNewRequest(b *testing.B) {
	d := benchDialog()
	b.ReportAllocs()
	for b.Loop() {
		_ = d.NewRequest(gosip.BYE, 0, nil, nil)
	}
}

// BenchmarkTapWrite: a written message shown to a tracer that, like the
// daemon's call book and captures, asks for its Call-ID and its bytes.
func BenchmarkTapWrite(b *testing.B) {
	s := &Side{Name: "edge"}
	n := 0
	tap := s.tapWrite(func(w *Wire) {
		if w.CallID() != "" {
			n += len(w.Bytes())
		}
	})
	msg := benchDialog().NewRequest(gosip.BYE, 0, nil, nil)
	local := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5060}
	remote := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2), Port: 5060}
	b.ReportAllocs()
	for b.Loop() {
		tap("UDP", local, remote, msg)
	}
	if n == 0 {
		b.Fatal("the tracer saw nothing")
	}
}

package sip

import (
	"slices"
	"testing"

	gosip "github.com/emiago/sipgo/sip"
)

// sfbInviteLines is a Skype for Business INVITE as a gateway side sees it
// after a proxy: 25 headers, most of them outside sipgo's short list of
// names it lower-cases without allocating.
var sfbInviteLines = []string{
	"INVITE sip:+15550100@127.0.0.1:5070;user=phone;transport=udp SIP/2.0",
	"Via: SIP/2.0/UDP 127.0.0.1:5090;branch=z9hG4bK-524287-1---8a3b1c;rport",
	"Via: SIP/2.0/TLS 127.0.0.2:5061;branch=z9hG4bK76b2a1;received=127.0.0.3",
	"Record-Route: <sip:127.0.0.2:5061;transport=tls;lr>",
	"Max-Forwards: 69",
	"From: \"Alice Contoso\" <sip:alice@contoso.example>;tag=4eb952ba52;epid=4eb952ba52",
	"To: <sip:+15550100@contoso.example;user=phone>",
	"Call-ID: 9f0a1c3e5b7d4f2a8c6e0b1d3f5a7c9e",
	"CSeq: 1 INVITE",
	"Contact: <sip:alice@127.0.0.1:5090;transport=udp;ms-opaque=d3470f2e1d>;text;audio;video",
	"User-Agent: UCCAPI/16.0.7870.2020 OC/16.0.7870.2020 (Skype for Business)",
	"k: ms-early-media",
	"Supported: timer, 100rel",
	"Supported: ms-safe-transfer, ms-sender, ms-dialog-route-set-update",
	"Allow: INVITE, BYE, ACK, CANCEL, INFO, UPDATE, REFER, NOTIFY, BENOTIFY, OPTIONS",
	"Ms-Conversation-ID: AdSmEqM/3R0OvYRgTHWpq7bU6nvTjw==",
	"ms-subnet: 127.0.0.0",
	"ms-endpoint-location-data: NetworkScope;ms-media-location-type=Intranet",
	"Ms-Call-Source: ms-client",
	"P-Asserted-Identity: <sip:alice@contoso.example>, <tel:+15550199>",
	"Privacy: id",
	"Session-Expires: 1800;refresher=uac",
	"Min-SE: 90",
	"Content-Disposition: session; handling=required",
	"ms-client-diagnostics: 51004; reason=\"Action initiated by user\"",
}

func sfbInvite(tb testing.TB) *gosip.Request {
	tb.Helper()
	raw := ""
	for _, l := range sfbInviteLines {
		raw += l + "\r\n"
	}
	msg, err := gosip.ParseMessage([]byte(raw + "Content-Length: 0\r\n\r\n"))
	if err != nil {
		tb.Fatal(err)
	}
	return msg.(*gosip.Request)
}

func names(hs []gosip.Header) []string {
	var out []string
	for _, h := range hs {
		out = append(out, h.Name()+": "+h.Value())
	}
	return out
}

func TestHeadersNamed(t *testing.T) {
	req := sfbInvite(t)
	tests := []struct {
		name string
		want []string
	}{
		{"Supported", []string{"k: ms-early-media", "Supported: timer, 100rel", "Supported: ms-safe-transfer, ms-sender, ms-dialog-route-set-update"}},
		{"supported", []string{"k: ms-early-media", "Supported: timer, 100rel", "Supported: ms-safe-transfer, ms-sender, ms-dialog-route-set-update"}},
		{"K", []string{"k: ms-early-media", "Supported: timer, 100rel", "Supported: ms-safe-transfer, ms-sender, ms-dialog-route-set-update"}},
		{"MS-CONVERSATION-ID", []string{"Ms-Conversation-ID: AdSmEqM/3R0OvYRgTHWpq7bU6nvTjw=="}},
		{"Ms-Subnet", []string{"ms-subnet: 127.0.0.0"}},
		{"x", []string{"Session-Expires: 1800;refresher=uac"}},
		{"Session-Expires", []string{"Session-Expires: 1800;refresher=uac"}},
		{"Via", []string{"Via: SIP/2.0/UDP 127.0.0.1:5090;branch=z9hG4bK-524287-1---8a3b1c;rport", "Via: SIP/2.0/TLS 127.0.0.2:5061;branch=z9hG4bK76b2a1;received=127.0.0.3"}},
		{"m", []string{"Contact: <sip:alice@127.0.0.1:5090;transport=udp;ms-opaque=d3470f2e1d>;text;audio;video"}},
		{"Route", nil},
		{"Refer-To", nil},
		{"r", nil},
		{"Min", nil},
		{"Subject", nil},
	}
	for _, tt := range tests {
		got := names(HeadersNamed(req, tt.name))
		if !slices.Equal(got, tt.want) {
			t.Errorf("HeadersNamed(%q) = %q, want %q", tt.name, got, tt.want)
		}
		first := HeaderNamed(req, tt.name)
		switch {
		case len(tt.want) == 0 && first != nil:
			t.Errorf("HeaderNamed(%q) = %q, want nil", tt.name, first.Name())
		case len(tt.want) > 0 && (first == nil || first.Name()+": "+first.Value() != tt.want[0]):
			t.Errorf("HeaderNamed(%q) = %v, want %q", tt.name, first, tt.want[0])
		}
		// Where sipgo finds the header by the same name, both agree
		// (sipgo knows no compact form of an unparsed header).
		if len(tt.name) > 1 {
			if sipgo := names(req.GetHeaders(tt.name)); len(sipgo) > 0 && !slices.Equal(sipgo, got) && tt.name != "Supported" && tt.name != "supported" {
				t.Errorf("HeadersNamed(%q) = %q, sipgo's GetHeaders %q", tt.name, got, sipgo)
			}
		}
	}
	if HeaderNamed(nil, "Via") != nil || HeadersNamed(nil, "Via") != nil {
		t.Error("a nil message has headers")
	}
	var nilReq *gosip.Request
	if HeaderNamed(nilReq, "Via") != nil {
		t.Error("a nil request has headers")
	}
}

// TestHeaderNamedAllocates: the point of HeaderNamed is to allocate
// nothing where sipgo's GetHeader allocates once per mixed-case header
// name it passes.
func TestHeaderNamedAllocates(t *testing.T) {
	req := sfbInvite(t)
	for _, name := range []string{"Allow", "Route", "RAck", "User-Agent", "Session-Expires", "x"} {
		if n := testing.AllocsPerRun(100, func() { _ = HeaderNamed(req, name) }); n != 0 {
			t.Errorf("HeaderNamed(%q): %v allocations, want 0", name, n)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _ = HeadersNamed(req, "Refer-To") }); n != 0 {
		t.Errorf("HeadersNamed of an absent header: %v allocations, want 0", n)
	}
}

// BenchmarkHeaderLookup: the lookups a request goes through in sip/ and
// mediation/ (Allow, Supported, Record-Route, Contact, User-Agent, and
// absent ones: Route, RAck, Refer-To), on an SfB INVITE of 25 headers,
// with sipgo's GetHeader/GetHeaders and with HeaderNamed/HeadersNamed.
func BenchmarkHeaderLookup(b *testing.B) {
	req := sfbInvite(b)
	present := []string{"Allow", "Supported", "Record-Route", "Contact", "User-Agent"}
	absent := []string{"Route", "RAck", "Refer-To"}
	b.Run("sipgo", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, n := range present {
				if req.GetHeader(n) == nil {
					b.Fatal(n)
				}
			}
			for _, n := range absent {
				if req.GetHeader(n) != nil {
					b.Fatal(n)
				}
			}
			_ = req.GetHeaders("Supported")
		}
	})
	b.Run("named", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, n := range present {
				if HeaderNamed(req, n) == nil {
					b.Fatal(n)
				}
			}
			for _, n := range absent {
				if HeaderNamed(req, n) != nil {
					b.Fatal(n)
				}
			}
			_ = HeadersNamed(req, "Supported")
		}
	})
}

// TestSetBody: the body's Content-Length is added once, where sipgo's
// SetBody puts it (last), and a later body replaces its value.
func TestSetBody(t *testing.T) {
	req := benchDialog().NewRequest(gosip.INVITE, 0, []byte("v=0\r\n"), nil)
	hs := req.Headers()
	if cl := HeadersNamed(req, "Content-Length"); len(cl) != 1 || cl[0].Value() != "5" || hs[len(hs)-1] != cl[0] {
		t.Fatalf("Content-Length headers %q in\n%s", names(cl), req)
	}
	setBody(req, []byte("v=0\r\no=-\r\n"))
	if cl := HeadersNamed(req, "Content-Length"); len(cl) != 1 || cl[0].Value() != "10" || string(req.Body()) != "v=0\r\no=-\r\n" {
		t.Fatalf("after a new body: Content-Length %q in\n%s", names(cl), req)
	}
	want := gosip.NewRequest(gosip.INVITE, req.Recipient)
	for _, h := range hs[:len(hs)-1] {
		want.AppendHeader(h)
	}
	want.SetBody([]byte("v=0\r\no=-\r\n"))
	if want.String() != req.String() {
		t.Errorf("setBody built\n%s\nSetBody builds\n%s", req, want)
	}
}

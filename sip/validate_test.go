package sip

import (
	"errors"
	"strings"
	"testing"

	gosip "github.com/emiago/sipgo/sip"
)

// rawRequest builds a request from a start line and headers, each header
// given as "Name: value"; override replaces the default header of that
// name (an empty value drops it), extra headers are appended.
func rawRequest(method string, override map[string]string, extra ...string) string {
	toTag := ""
	if method != "INVITE" && method != "OPTIONS" && method != "SUBSCRIBE" {
		toTag = ";tag=8321234356"
	}
	cseqMethod := method
	defaults := []struct{ name, value string }{
		{"Via", "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds"},
		{"Max-Forwards", "70"},
		{"From", "Alice <sip:alice@example.com>;tag=1928301774"},
		{"To", "Bob <sip:bob@example.com>" + toTag},
		{"Call-ID", "a84b4c76e66710@192.0.2.1"},
		{"CSeq", "314159 " + cseqMethod},
		{"Contact", "<sip:alice@192.0.2.1:5060>"},
	}
	lines := []string{method + " sip:bob@example.com SIP/2.0"}
	for _, d := range defaults {
		v, ok := override[d.name]
		if !ok {
			v = d.value
		}
		if v != "" {
			lines = append(lines, d.name+": "+v)
		}
	}
	lines = append(lines, extra...)
	return strings.Join(lines, "\r\n") + "\r\nContent-Length: 0\r\n\r\n"
}

func TestCheckRequest(t *testing.T) {
	noContact := map[string]string{"Contact": ""}
	tests := []struct {
		name       string
		raw        string
		wantPhrase string // "" when the request is fine
	}{
		// Valid requests.
		{"valid INVITE", rawRequest("INVITE", nil), ""},
		{"valid INVITE, sips Contact with params", rawRequest("INVITE", map[string]string{"Contact": "\"Alice\" <sips:alice@192.0.2.1>;expires=3600"}), ""},
		{"valid INVITE, compact headers", "INVITE sip:bob@example.com SIP/2.0\r\n" +
			"v: SIP/2.0/TCP [2001:db8::1]:5061;branch=z9hG4bK1\r\n" +
			"f: <sip:alice@example.com>;tag=88sja8x\r\n" +
			"t: <sip:bob@example.com>\r\n" +
			"i: c1\r\n" +
			"CSeq: 1 INVITE\r\n" +
			"m: <sip:alice@[2001:db8::1]:5061;transport=tcp>\r\n" +
			"l: 0\r\n\r\n", ""},
		{"valid re-INVITE", rawRequest("INVITE", map[string]string{"To": "<sip:bob@example.com>;tag=x"}), ""},
		{"valid BYE without Contact", rawRequest("BYE", noContact), ""},
		{"valid ACK", rawRequest("ACK", noContact), ""},
		{"valid CANCEL", rawRequest("CANCEL", noContact), ""},
		{"valid UPDATE", rawRequest("UPDATE", nil), ""},
		{"valid SUBSCRIBE", rawRequest("SUBSCRIBE", nil, "Event: dialog"), ""},
		{"valid OPTIONS without Contact", rawRequest("OPTIONS", noContact), ""},
		{"Via without port", rawRequest("INVITE", map[string]string{"Via": "SIP/2.0/UDP pc33.example.com;branch=z9hG4bK1"}), ""},
		{"Via port 65535", rawRequest("INVITE", map[string]string{"Via": "SIP/2.0/UDP 192.0.2.1:65535;branch=z9hG4bK1"}), ""},
		// sipgo stores ":0" as 0, its value for "no port": indistinguishable
		// from an absent port, so it passes (the default port applies).
		{"Via port 0 reads as no port", rawRequest("INVITE", map[string]string{"Via": "SIP/2.0/UDP 192.0.2.1:0;branch=z9hG4bK1"}), ""},
		{"Max-Forwards 0", rawRequest("OPTIONS", map[string]string{"Max-Forwards": "0"}), ""},
		{"Max-Forwards 255", rawRequest("INVITE", map[string]string{"Max-Forwards": "255"}), ""},
		{"no Max-Forwards", rawRequest("INVITE", map[string]string{"Max-Forwards": ""}), ""},
		{"re-INVITE without Contact keeps the target", rawRequest("INVITE", map[string]string{"To": "<sip:bob@example.com>;tag=x", "Contact": ""}), ""},
		{"UPDATE without Contact keeps the target", rawRequest("UPDATE", noContact), ""},
		{"From tag with upper-case name", rawRequest("INVITE", map[string]string{"From": "<sip:alice@example.com>;TAG=abc"}), ""},

		// Missing mandatory headers.
		{"no Call-ID", rawRequest("INVITE", map[string]string{"Call-ID": ""}), "Bad Request - Missing Call-ID"},
		{"no From", rawRequest("INVITE", map[string]string{"From": ""}), "Bad Request - Missing From"},
		{"no To", rawRequest("INVITE", map[string]string{"To": ""}), "Bad Request - Missing To"},
		{"no CSeq", rawRequest("INVITE", map[string]string{"CSeq": ""}), "Bad Request - Missing CSeq"},
		{"no Via", rawRequest("INVITE", map[string]string{"Via": ""}), "Bad Request - Missing Via"},

		// CSeq.
		{"CSeq method OPTIONS on an INVITE", rawRequest("INVITE", map[string]string{"CSeq": "1 OPTIONS"}), "Bad Request - CSeq Method Mismatch"},
		{"CSeq method INVITE on an OPTIONS", rawRequest("OPTIONS", map[string]string{"CSeq": "1 INVITE"}), "Bad Request - CSeq Method Mismatch"},
		{"ACK with CSeq INVITE", rawRequest("ACK", map[string]string{"CSeq": "314159 INVITE", "Contact": ""}), "Bad Request - CSeq Method Mismatch"},
		{"CANCEL with CSeq INVITE", rawRequest("CANCEL", map[string]string{"CSeq": "314159 INVITE", "Contact": ""}), "Bad Request - CSeq Method Mismatch"},
		{"CSeq method case differs", rawRequest("INVITE", map[string]string{"CSeq": "1 invite"}), "Bad Request - CSeq Method Mismatch"},

		// From tag.
		{"From without tag", rawRequest("INVITE", map[string]string{"From": "<sip:alice@example.com>"}), "Bad Request - Missing From Tag"},
		{"From with empty tag", rawRequest("BYE", map[string]string{"From": "<sip:alice@example.com>;tag=", "Contact": ""}), "Bad Request - Missing From Tag"},

		// Via.
		{"Via port 5060000", rawRequest("INVITE", map[string]string{"Via": "SIP/2.0/UDP 192.0.2.1:5060000;branch=z9hG4bK1"}), "Bad Request - Invalid Via Port"},
		{"Via port 65536", rawRequest("INVITE", map[string]string{"Via": "SIP/2.0/UDP 192.0.2.1:65536;branch=z9hG4bK1"}), "Bad Request - Invalid Via Port"},
		{"Via port -1", rawRequest("INVITE", map[string]string{"Via": "SIP/2.0/UDP 192.0.2.1:-1;branch=z9hG4bK1"}), "Bad Request - Invalid Via Port"},
		{"Via IPv6 port 70000", rawRequest("INVITE", map[string]string{"Via": "SIP/2.0/UDP [2001:db8::1]:70000;branch=z9hG4bK1"}), "Bad Request - Invalid Via Port"},
		// sipgo gives up on a non-numeric or overflowing port, leaving
		// the host empty.
		{"Via port not a number", rawRequest("INVITE", map[string]string{"Via": "SIP/2.0/UDP 192.0.2.1:abc;branch=z9hG4bK1"}), "Bad Request - Malformed Via"},
		{"Via port overflows", rawRequest("INVITE", map[string]string{"Via": "SIP/2.0/UDP 192.0.2.1:99999999999999999999;branch=z9hG4bK1"}), "Bad Request - Malformed Via"},

		// Max-Forwards.
		{"Max-Forwards 256", rawRequest("INVITE", map[string]string{"Max-Forwards": "256"}), "Bad Request - Invalid Max-Forwards"},
		{"Max-Forwards 4294967295", rawRequest("OPTIONS", map[string]string{"Max-Forwards": "4294967295"}), "Bad Request - Invalid Max-Forwards"},
		// sipgo's own parser refuses these and the whole message with them
		// (no answer at all); the Side's keeps them for a 400 (r25-loop F3).
		{"Max-Forwards -1", rawRequest("INVITE", map[string]string{"Max-Forwards": "-1"}), "Bad Request - Invalid Max-Forwards"},
		{"Max-Forwards not a number", rawRequest("INVITE", map[string]string{"Max-Forwards": "abc"}), "Bad Request - Invalid Max-Forwards"},
		{"Max-Forwards two numbers", rawRequest("INVITE", map[string]string{"Max-Forwards": "2 3"}), "Bad Request - Invalid Max-Forwards"},
		{"Max-Forwards above 2^32-1", rawRequest("OPTIONS", map[string]string{"Max-Forwards": "4294967296"}), "Bad Request - Invalid Max-Forwards"},
		{"Max-Forwards list", rawRequest("INVITE", map[string]string{"Max-Forwards": "70, 70"}), "Bad Request - Invalid Max-Forwards"},
		{"compact Max-Forwards bad, lower case", rawRequest("INVITE", map[string]string{"Max-Forwards": ""}, "max-forwards: x"), "Bad Request - Invalid Max-Forwards"},

		// Contact.
		{"INVITE without Contact", rawRequest("INVITE", noContact), "Bad Request - Missing Contact"},
		{"SUBSCRIBE without Contact", rawRequest("SUBSCRIBE", noContact, "Event: dialog"), "Bad Request - Missing Contact"},
		{"two Contact headers", rawRequest("INVITE", nil, "Contact: <sip:other@192.0.2.9>"), "Bad Request - Multiple Contacts"},
		{"two Contacts in one header", rawRequest("INVITE", map[string]string{"Contact": "<sip:a@192.0.2.1>, <sip:b@192.0.2.1>"}), "Bad Request - Multiple Contacts"},
		{"two Contacts in an UPDATE", rawRequest("UPDATE", nil, "Contact: <sip:other@192.0.2.9>"), "Bad Request - Multiple Contacts"},
		{"Contact with a tel: URI", rawRequest("INVITE", map[string]string{"Contact": "<tel:+15551234567>"}), "Bad Request - Contact Not SIP URI"},
		{"re-INVITE Contact with a tel: URI", rawRequest("INVITE", map[string]string{"To": "<sip:bob@example.com>;tag=x", "Contact": "<tel:+15551234567>"}), "Bad Request - Contact Not SIP URI"},
		{"wildcard Contact on an INVITE", rawRequest("INVITE", map[string]string{"Contact": "*"}), "Bad Request - Contact Not SIP URI"},
		{"Contact without host", rawRequest("INVITE", map[string]string{"Contact": "<sip:>"}), "Bad Request - Contact Not SIP URI"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg, err := newParser().ParseSIP([]byte(tt.raw))
			if err != nil {
				t.Fatalf("parse: %v\n%s", err, tt.raw)
			}
			req, ok := msg.(*gosip.Request)
			if !ok {
				t.Fatal("not a request")
			}
			err = CheckRequest(req)
			if tt.wantPhrase == "" {
				if err != nil {
					t.Fatalf("CheckRequest = %v, want nil", err)
				}
				return
			}
			var bad *Malformed
			if !errors.As(err, &bad) {
				t.Fatalf("CheckRequest = %v, want *Malformed %q", err, tt.wantPhrase)
			}
			if bad.Phrase != tt.wantPhrase || err.Error() != tt.wantPhrase {
				t.Errorf("phrase %q (Error %q), want %q", bad.Phrase, err.Error(), tt.wantPhrase)
			}
		})
	}
}

// TestSipgoRejects documents what the Side's parser (sipgo's, with a
// lenient Max-Forwards) refuses by itself, so the transport drops these
// before CheckRequest sees them.
func TestSipgoRejects(t *testing.T) {
	tests := []struct {
		name     string
		override map[string]string
	}{
		{"CSeq number 2^31", map[string]string{"CSeq": "2147483648 INVITE"}},
		{"CSeq without method", map[string]string{"CSeq": "1"}},
		{"Contact not an address", map[string]string{"Contact": "garbage"}},
	}
	// The lenient Max-Forwards is the Side's own: sipgo's package parser
	// is left as it is.
	if _, err := gosip.ParseMessage([]byte(rawRequest("INVITE", map[string]string{"Max-Forwards": "-1"}))); err == nil {
		t.Error("sipgo's default parser took Max-Forwards -1: newParser changed sipgo's shared header parsers")
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := newParser().ParseSIP([]byte(rawRequest("INVITE", tt.override))); err == nil {
				t.Error("sipgo parsed it; CheckRequest must now check this")
			}
		})
	}
}

func TestCheckRequestBuilt(t *testing.T) {
	// Requests built in code can lack what the parser guarantees.
	base := func() *gosip.Request {
		req := gosip.NewRequest(gosip.INVITE, gosip.Uri{Scheme: "sip", User: "bob", Host: "example.com"})
		via := &gosip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: "UDP", Host: "192.0.2.1", Port: 5060, Params: gosip.NewParams()}
		via.Params.Add("branch", gosip.GenerateBranch())
		req.AppendHeader(via)
		from := &gosip.FromHeader{Address: gosip.Uri{Scheme: "sip", User: "alice", Host: "example.com"}, Params: gosip.NewParams()}
		from.Params.Add("tag", "abc")
		req.AppendHeader(from)
		req.AppendHeader(&gosip.ToHeader{Address: gosip.Uri{Scheme: "sip", User: "bob", Host: "example.com"}, Params: gosip.NewParams()})
		cid := gosip.CallIDHeader("c1")
		req.AppendHeader(&cid)
		req.AppendHeader(&gosip.CSeqHeader{SeqNo: 1, MethodName: gosip.INVITE})
		return req
	}
	tests := []struct {
		name       string
		edit       func(*gosip.Request)
		wantPhrase string
	}{
		{"generic Contact header", func(r *gosip.Request) { r.AppendHeader(gosip.NewHeader("Contact", "<sip:alice@192.0.2.1>")) }, ""},
		{"generic Contact holding a list", func(r *gosip.Request) {
			r.AppendHeader(gosip.NewHeader("Contact", "<sip:a@192.0.2.1>, <sip:b@192.0.2.1>"))
		}, "Bad Request - Multiple Contacts"},
		{"empty Call-ID", func(r *gosip.Request) {
			r.RemoveHeader("Call-ID")
			cid := gosip.CallIDHeader("")
			r.AppendHeader(&cid)
			r.AppendHeader(&gosip.ContactHeader{Address: gosip.Uri{Scheme: "sip", Host: "192.0.2.1"}})
		}, "Bad Request - Missing Call-ID"},
		{"CSeq 2^31", func(r *gosip.Request) {
			r.CSeq().SeqNo = 1 << 31
			r.AppendHeader(&gosip.ContactHeader{Address: gosip.Uri{Scheme: "sip", Host: "192.0.2.1"}})
		}, "Bad Request - Invalid CSeq"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := base()
			tt.edit(req)
			err := CheckRequest(req)
			var got string
			if bad := (*Malformed)(nil); errors.As(err, &bad) {
				got = bad.Phrase
			} else if err != nil {
				t.Fatalf("error %v is not *Malformed", err)
			}
			if got != tt.wantPhrase {
				t.Errorf("CheckRequest = %q, want %q", got, tt.wantPhrase)
			}
		})
	}
	var bad *Malformed
	if err := CheckRequest(nil); !errors.As(err, &bad) {
		t.Errorf("nil request: %v", err)
	}
}

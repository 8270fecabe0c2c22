package sip

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	gosip "github.com/emiago/sipgo/sip"
)

func parseReq(t *testing.T, lines ...string) *gosip.Request {
	t.Helper()
	m, err := gosip.ParseMessage([]byte(strings.Join(lines, "\r\n") + "\r\nContent-Length: 0\r\n\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	return m.(*gosip.Request)
}

func parseRes(t *testing.T, lines ...string) *gosip.Response {
	t.Helper()
	m, err := gosip.ParseMessage([]byte(strings.Join(lines, "\r\n") + "\r\nContent-Length: 0\r\n\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	return m.(*gosip.Response)
}

// TestDialogRequests: in-dialog requests follow RFC 3261 §12.2.1.1: the
// remote target in the Request-URI and the route set in Route (loose
// routing), or the first route in the Request-URI and the target last in
// Route (strict routing); tags, Call-ID and the next CSeq.
func TestDialogRequests(t *testing.T) {
	side := &Side{Name: "test"}
	inv := parseReq(t,
		"INVITE sip:b@10.0.0.2 SIP/2.0",
		"Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKa",
		"From: <sip:a@10.0.0.1>;tag=ours",
		"To: <sip:b@10.0.0.2>",
		"Call-ID: c1",
		"CSeq: 7 INVITE",
		"Contact: <sip:a@10.0.0.1>")
	tests := []struct {
		name       string
		rr         []string
		contact    string // the 2xx's Contact, <sip:b@10.0.0.2:5070> if ""
		wantRURI   string
		wantRoutes []string
		wantNext   string // where it is sent (RFC 3261 §8.1.2)
	}{
		{"no route set", nil, "", "sip:b@10.0.0.2:5070", nil, "target:10.0.0.2:5070"},
		{"loose routers, reversed from the 2xx", []string{"<sip:p2.example;lr>", "<sip:p1.example;lr>"}, "",
			"sip:b@10.0.0.2:5070", []string{"<sip:p1.example;lr>", "<sip:p2.example;lr>"}, "target:p1.example:5060"},
		{"strict router", []string{"<sip:p1.example>"}, "", "sip:p1.example", []string{"<sip:b@10.0.0.2:5070>"}, "target:p1.example:5060"},
		{"strict router, then a loose one", []string{"<sip:p2.example;lr>", "<sip:p1.example:5062>"}, "", "sip:p1.example:5062",
			[]string{"<sip:p2.example;lr>", "<sip:b@10.0.0.2:5070>"}, "target:p1.example:5062"},
		// RFC 3261 §19.1.1, RFC 3263 §4: maddr overrides the host, the
		// URI's port kept; the Request-URI keeps the parameter.
		{"maddr in the Contact", nil, "<sip:b@10.0.0.2:5070;maddr=10.0.0.9>",
			"sip:b@10.0.0.2:5070;maddr=10.0.0.9", nil, "target:10.0.0.9:5070"},
		{"maddr host name in the Contact", nil, "<sip:b@10.0.0.2;maddr=sbc.example>",
			"sip:b@10.0.0.2;maddr=sbc.example", nil, "target:sbc.example:5060"},
		{"maddr in a loose route", []string{"<sip:p1.example:5062;lr;maddr=10.0.0.8>"}, "",
			"sip:b@10.0.0.2:5070", []string{"<sip:p1.example:5062;lr;maddr=10.0.0.8>"}, "target:10.0.0.8:5062"},
		{"maddr in a strict route", []string{"<sip:p1.example;maddr=10.0.0.8>"}, "",
			"sip:p1.example;maddr=10.0.0.8", []string{"<sip:b@10.0.0.2:5070>"}, "target:10.0.0.8:5060"},
		{"maddr unusable", nil, "<sip:b@10.0.0.2:5070;maddr=a%2Fb>",
			"sip:b@10.0.0.2:5070;maddr=a%2Fb", nil, "target:10.0.0.2:5070"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lines := []string{"SIP/2.0 200 OK", "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKa",
				"From: <sip:a@10.0.0.1>;tag=ours", "To: <sip:b@10.0.0.2>;tag=theirs", "Call-ID: c1", "CSeq: 7 INVITE",
				"Contact: <sip:b@10.0.0.2:5070>"}
			if tt.contact != "" {
				lines[len(lines)-1] = "Contact: " + tt.contact
			}
			for _, rr := range tt.rr {
				lines = append(lines, "Record-Route: "+rr)
			}
			d := NewUACDialog(side, inv, parseRes(t, lines...))
			if !d.UAC {
				t.Error("a dialog of our INVITE is not UAC: its Call-ID is ours (the 491 wait)")
			}
			bye := d.NewRequest(gosip.BYE, 0, nil, nil)
			if got := bye.Recipient.String(); got != tt.wantRURI {
				t.Errorf("Request-URI %s, want %s", got, tt.wantRURI)
			}
			var routes []string
			for _, h := range bye.GetHeaders("Route") {
				routes = append(routes, h.Value())
			}
			if strings.Join(routes, ",") != strings.Join(tt.wantRoutes, ",") {
				t.Errorf("Route %v, want %v", routes, tt.wantRoutes)
			}
			if next := d.targets(bye); len(next) == 0 || next[0] != tt.wantNext {
				t.Errorf("sent to %v, want %s first", next, tt.wantNext)
			}
			if tag, _ := bye.From().Params.Get("tag"); tag != "ours" {
				t.Errorf("From tag %q", tag)
			}
			if tag, _ := bye.To().Params.Get("tag"); tag != "theirs" {
				t.Errorf("To tag %q", tag)
			}
			if bye.CSeq().SeqNo != 8 || string(*bye.CallID()) != "c1" {
				t.Errorf("CSeq %d, Call-ID %s", bye.CSeq().SeqNo, *bye.CallID())
			}
			if ack := d.NewRequest(gosip.ACK, 7, nil, nil); ack.CSeq().SeqNo != 7 || d.LocalSeq != 8 {
				t.Errorf("ACK CSeq %d (local seq %d): an ACK takes its INVITE's number", ack.CSeq().SeqNo, d.LocalSeq)
			}
		})
	}
}

// TestDialogConfirm: the 2xx of an INVITE whose early dialog an 18x made
// recomputes the route set from its own Record-Route and takes its
// Contact as the remote target (RFC 3261 §13.2.2.4), whatever the 18x
// said: none in the 18x and one in the 2xx, another one, or none left.
func TestDialogConfirm(t *testing.T) {
	side := &Side{Name: "test"}
	inv := parseReq(t,
		"INVITE sip:b@10.0.0.2 SIP/2.0",
		"Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKa",
		"From: <sip:a@10.0.0.1>;tag=ours",
		"To: <sip:b@10.0.0.2>",
		"Call-ID: c1",
		"CSeq: 7 INVITE",
		"Contact: <sip:a@10.0.0.1>")
	res := func(code string, contact string, rr ...string) *gosip.Response {
		lines := []string{"SIP/2.0 " + code, "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKa",
			"From: <sip:a@10.0.0.1>;tag=ours", "To: <sip:b@10.0.0.2>;tag=theirs", "Call-ID: c1", "CSeq: 7 INVITE",
			"Contact: " + contact}
		for _, r := range rr {
			lines = append(lines, "Record-Route: "+r)
		}
		return parseRes(t, lines...)
	}
	tests := []struct {
		name       string
		early, ok  []string
		wantRoutes []string
	}{
		{"record-routed in the 2xx only", nil, []string{"<sip:p2.example;lr>"}, []string{"<sip:p2.example;lr>"}},
		{"another proxy in the 2xx", []string{"<sip:p1.example;lr>"}, []string{"<sip:p3.example;lr>", "<sip:p2.example;lr>"},
			[]string{"<sip:p2.example;lr>", "<sip:p3.example;lr>"}},
		{"none in the 2xx", []string{"<sip:p1.example;lr>"}, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := NewUACDialog(side, inv, res("183 Session Progress", "<sip:b@10.0.0.2:5070>", tt.early...))
			d.Confirm(res("200 OK", "<sip:b@10.0.0.2:5072>", tt.ok...))
			bye := d.NewRequest(gosip.BYE, 0, nil, nil)
			if got := bye.Recipient.String(); got != "sip:b@10.0.0.2:5072" {
				t.Errorf("Request-URI %s, want the 2xx's Contact", got)
			}
			var routes []string
			for _, h := range bye.GetHeaders("Route") {
				routes = append(routes, h.Value())
			}
			if strings.Join(routes, ",") != strings.Join(tt.wantRoutes, ",") {
				t.Errorf("Route %v, want %v", routes, tt.wantRoutes)
			}
		})
	}
}

// TestDialogRemoteSeq: a request with a CSeq lower than the peer's last one
// is out of order (RFC 3261 §12.2.2); ACK and CANCEL are not counted.
func TestDialogRemoteSeq(t *testing.T) {
	d := &Dialog{RemoteSeq: 5}
	req := func(method string, n int) *gosip.Request {
		return parseReq(t, method+" sip:a@x SIP/2.0", "Via: SIP/2.0/UDP x;branch=z9hG4bKb", "From: <sip:b@x>;tag=t",
			"To: <sip:a@x>;tag=o", "Call-ID: c", "CSeq: "+strconv.Itoa(n)+" "+method)
	}
	if err := d.CheckRemoteSeq(req("BYE", 4)); err == nil {
		t.Error("a lower CSeq was accepted")
	}
	if err := d.CheckRemoteSeq(req("ACK", 1)); err != nil {
		t.Errorf("ACK: %v", err)
	}
	if err := d.CheckRemoteSeq(req("UPDATE", 6)); err != nil || d.RemoteSeq != 6 {
		t.Errorf("UPDATE 6: %v, remote seq %d", err, d.RemoteSeq)
	}
}

// TestDialogAllows: a peer that sent no Allow is held to RFC 3261's core
// methods; one that did, to its list.
func TestDialogAllows(t *testing.T) {
	d := &Dialog{}
	if d.Allows(gosip.UPDATE) || !d.Allows(gosip.BYE) {
		t.Error("no Allow: want core methods only")
	}
	d.Heard(parseRes(t, "SIP/2.0 200 OK", "Via: SIP/2.0/UDP x;branch=z9hG4bKb", "From: <sip:b@x>;tag=t",
		"To: <sip:a@x>;tag=o", "Call-ID: c", "CSeq: 1 INVITE", "Allow: INVITE, ACK, update , BYE"))
	if !d.Allows(gosip.UPDATE) || d.Allows(gosip.INFO) {
		t.Errorf("Allow %v", d.Allow)
	}
	d.NoUpdate = true // the peer refused our UPDATE (RefusesMethod)
	if d.Allows(gosip.UPDATE) || !d.Allows(gosip.INVITE) {
		t.Error("NoUpdate: want UPDATE refused, the rest of Allow kept")
	}
}

// TestRefusesMethod: 501, and 405 unless its Allow lists the method, say
// the peer does not do it; other codes do not.
func TestRefusesMethod(t *testing.T) {
	for _, tc := range []struct {
		status string
		extra  []string
		want   bool
	}{
		{"501 Not Implemented", nil, true},
		{"405 Method Not Allowed", []string{"Allow: INVITE, ACK, BYE, CANCEL, OPTIONS"}, true},
		{"405 Method Not Allowed", nil, true},
		{"405 Method Not Allowed", []string{"Allow: INVITE, update"}, false},
		// A list spanning two header lines (RFC 3261 §7.3.1).
		{"405 Method Not Allowed", []string{"Allow: INVITE, ACK", "Allow: BYE, UPDATE"}, false},
		{"500 Server Internal Error", nil, false},
		{"488 Not Acceptable Here", nil, false},
	} {
		if got := RefusesMethod(provisional(t, tc.status, tc.extra...), gosip.UPDATE); got != tc.want {
			t.Errorf("%s %v: %v, want %v", tc.status, tc.extra, got, tc.want)
		}
	}
}

// TestHeardAllow: the peer's Allow is learnt from every Allow line of a
// message, upper-cased; a message repeating the list the dialog has
// (nearly every one) costs no allocation.
func TestHeardAllow(t *testing.T) {
	d := &Dialog{}
	first := provisional(t, "180 Ringing", "Allow: invite, ACK", "Allow: UPDATE")
	d.Heard(first)
	if want := []string{"INVITE", "ACK", "UPDATE"}; !slices.Equal(d.Allow, want) {
		t.Fatalf("Allow %q, want %q", d.Allow, want)
	}
	again := provisional(t, "183 Session Progress", "Allow: INVITE, ACK, UPDATE")
	if n := testing.AllocsPerRun(100, func() { d.Heard(again) }); n != 0 {
		t.Errorf("the same Allow again: %v allocations, want 0", n)
	}
	d.Heard(provisional(t, "200 OK", "Allow: INVITE, BYE"))
	if want := []string{"INVITE", "BYE"}; !slices.Equal(d.Allow, want) {
		t.Fatalf("Allow %q after a new list, want %q", d.Allow, want)
	}
}

// TestTakesFlow: an in-dialog request goes on the peer's open connection
// when its next hop is that connection's address; to another port of
// the same IP only when the peer opened the connection (from an
// ephemeral port: NAT-friendly reuse), not when we dialled it to a port
// the peer listens on (r26-tls F1); to another host only without a route
// set.
func TestTakesFlow(t *testing.T) {
	rr := []gosip.Uri{{Scheme: "sip", Host: "10.0.0.2", Port: 5062, UriParams: gosip.HeaderParams{{K: "lr"}}}}
	for _, tt := range []struct {
		name     string
		target   string
		routes   []gosip.Uri
		accepted bool
		want     bool
	}{
		{"same address, dialled", "10.0.0.2:5061", rr, false, true},
		{"same address, accepted", "10.0.0.2:5061", rr, true, true},
		{"another port, dialled, route set", "10.0.0.2:5062", rr, false, false},
		{"another port, dialled, contact only", "10.0.0.2:5062", nil, false, false},
		{"another port, accepted, route set", "10.0.0.2:5062", rr, true, true},
		{"another port, accepted, contact only", "10.0.0.2:5062", nil, true, true},
		{"another host, route set", "10.0.0.3:5061", rr, true, false},
		{"another host, contact only", "10.0.0.3:5061", nil, false, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := &Dialog{Flow: "10.0.0.2:5061", RouteSet: tt.routes}
			if got := d.takesFlow(tt.target, tt.accepted); got != tt.want {
				t.Errorf("takesFlow(%s, accepted %v) = %v, want %v", tt.target, tt.accepted, got, tt.want)
			}
		})
	}
	if got := uriHostPort(gosip.Uri{Scheme: "sips", Host: "10.0.0.2"}, nil, "TLS"); got != "10.0.0.2:5061" {
		t.Errorf("a TLS URI without a port goes to %s, want port 5061", got)
	}
	if got := uriHostPort(gosip.Uri{Scheme: "sip", Host: "10.0.0.2"}, nil, "TCP"); got != "10.0.0.2:5060" {
		t.Errorf("a TCP URI without a port goes to %s, want port 5060", got)
	}
}

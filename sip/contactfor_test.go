package sip

import (
	"net/netip"
	"testing"

	gosip "github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"
)

// TestContactForSips: RFC 3261 §12.1.1: "If the request that initiated
// the dialog contained a SIPS URI in the Request-URI or in the top
// Record-Route header field value, if there was any, or the Contact
// header field if there was no Record-Route header field, the Contact
// header field in the response MUST be a SIPS URI." Over TLS, our Contact
// in the response is sips: in each of those cases (the last one was missed:
// an SBC starting a SIPS dialog with a sips: Contact, no Record-Route and
// a sip: Request-URI got a sip: Contact, r28-tls F2), and sip: with
// transport=tls otherwise; a sips: Contact behind a sip: Record-Route does
// not count, nor anything over a transport other than TLS.
func TestContactForSips(t *testing.T) {
	side := startSideConfig(t, SideConfig{Name: "test", Listen: netip.MustParseAddrPort("127.0.72.20:0"), UserAgent: "test",
		Log: zerolog.Nop(), Handler: newRecorder()})
	peer := func(scheme string) gosip.Uri {
		return gosip.Uri{Scheme: scheme, User: "sbc", Host: "127.0.72.21", Port: 5061}
	}
	for _, tc := range []struct {
		name, transport, ruri, rr, contact, want string
	}{
		{"sips request-uri", "TLS", "sips", "", "sip", "sips"},
		{"sips top record-route", "TLS", "sip", "sips", "sip", "sips"},
		{"sips contact, no record-route", "TLS", "sip", "", "sips", "sips"},
		{"sips contact behind a sip record-route", "TLS", "sip", "sip", "sips", "sip"},
		{"all sip", "TLS", "sip", "", "sip", "sip"},
		{"sips contact over tcp", "TCP", "sip", "", "sips", "sip"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := gosip.NewRequest(gosip.INVITE, peer(tc.ruri))
			req.SetTransport(tc.transport)
			if tc.rr != "" {
				u := peer(tc.rr)
				u.User = ""
				req.AppendHeader(&gosip.RecordRouteHeader{Address: u})
			}
			req.AppendHeader(&gosip.ContactHeader{Address: peer(tc.contact)})
			c := side.ContactFor(req)
			if c.Address.Scheme != tc.want {
				t.Fatalf("Contact %s, want a %s: URI", c.Address.String(), tc.want)
			}
			if tp, _ := c.Address.UriParams.Get("transport"); tc.want == "sip" && tc.transport == "TLS" && tp != "tls" {
				t.Errorf("Contact %s over TLS, want transport=tls", c.Address.String())
			}
		})
	}
}

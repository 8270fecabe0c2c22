package sip

import (
	"testing"

	gosip "github.com/emiago/sipgo/sip"
)

// TestNewResponseAsSipgo: newResponse builds, header for header, what
// sipgo's NewResponseFromRequest builds (Record-Route only where RFC 3261
// §20 wants it, Via with rport/received, From, To, Call-ID, CSeq,
// Timestamp in a 100), for requests with compact and lower-case header
// names too; the To-tag is the request's when it has one (an in-dialog
// request: RFC 3261 §8.2.6.2), else the caller's when given, else a fresh
// one for anything but a 100, as sipgo's.
func TestNewResponseAsSipgo(t *testing.T) {
	reqs := map[string]*gosip.Request{"sfb invite": sfbInvite(t)}
	raw := map[string][]string{
		"compact invite": {
			"INVITE sip:b@127.0.0.1 SIP/2.0",
			"v: SIP/2.0/UDP 127.0.0.1:5090;branch=z9hG4bK1;rport",
			"record-route: <sip:127.0.0.2;lr>",
			"RECORD-ROUTE: <sip:127.0.0.3;lr>",
			"f: <sip:a@127.0.0.1>;tag=fa",
			"t: <sip:b@127.0.0.1>",
			"i: compact-1",
			"CSeq: 1 INVITE",
			"m: <sip:a@127.0.0.1:5090>",
			"timestamp: 54",
		},
		"in-dialog bye": {
			"BYE sip:b@127.0.0.1 SIP/2.0",
			"Via: SIP/2.0/TCP 127.0.0.1:5090;branch=z9hG4bK2",
			"From: <sip:a@127.0.0.1>;tag=fa",
			"To: <sip:b@127.0.0.1>;tag=tb",
			"Call-ID: bye-1",
			"CSeq: 2 BYE",
		},
		"options with timestamp": {
			"OPTIONS sip:b@127.0.0.1 SIP/2.0",
			"Via: SIP/2.0/UDP 127.0.0.1:5090;branch=z9hG4bK3;rport",
			"Record-Route: <sip:127.0.0.2;lr>",
			"From: <sip:a@127.0.0.1>;tag=fa",
			"To: <sip:b@127.0.0.1>",
			"Call-ID: opt-1",
			"CSeq: 3 OPTIONS",
			"Timestamp: 54 0.5",
		},
		"register": {
			"REGISTER sip:127.0.0.1 SIP/2.0",
			"Via: SIP/2.0/UDP 127.0.0.1:5090;branch=z9hG4bK4",
			"Record-Route: <sip:127.0.0.2;lr>",
			"From: <sip:a@127.0.0.1>;tag=fa",
			"To: <sip:a@127.0.0.1>",
			"Call-ID: reg-1",
			"CSeq: 4 REGISTER",
		},
	}
	for name, lines := range raw {
		reqs[name] = parseRequest(t, lines...)
	}
	for name, req := range reqs {
		req.SetSource("127.0.0.9:5099")
		req.SetTransport("UDP")
		for _, code := range []int{100, 180, 183, 199, 200, 202, 400, 487, 503} {
			for _, toTag := range []string{"", "ours"} {
				want := gosip.NewResponseFromRequest(req, code, "Reason", []byte("body"))
				if toTag != "" && code > 100 && !req.To().Params.Has("tag") {
					want.To().Params.Add("tag", toTag)
				}
				got := newResponse(req, code, "Reason", toTag, []byte("body"))
				// Both drew a random tag where none was given: compare
				// everything else.
				if w, _ := want.To().Params.Get("tag"); toTag == "" || code == 100 {
					g, _ := got.To().Params.Get("tag")
					if (g == "") != (w == "") {
						t.Errorf("%s %d: To-tag %q, sipgo's %q", name, code, g, w)
					}
					if g != "" {
						got.To().Params.Add("tag", w)
					}
				}
				if got.String() != want.String() {
					t.Errorf("%s %d (tag %q):\n%s\nsipgo builds\n%s", name, code, toTag, got, want)
				}
				if got.Transport() != want.Transport() {
					t.Errorf("%s %d: transport %q, sipgo's %q", name, code, got.Transport(), want.Transport())
				}
			}
		}
	}
}

// BenchmarkResponse: a 183 to an SfB INVITE with our To-tag, built by
// sipgo's NewResponseFromRequest and by newResponse.
func BenchmarkResponse(b *testing.B) {
	req := sfbInvite(b)
	req.SetSource("127.0.0.1:5090")
	b.Run("sipgo", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			res := gosip.NewResponseFromRequest(req, 183, "Session Progress", nil)
			res.To().Params.Add("tag", "ours")
		}
	})
	b.Run("ours", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = newResponse(req, 183, "Session Progress", "ours", nil)
		}
	})
}

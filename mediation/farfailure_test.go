package mediation_test

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
)

// The far side's failures whose meaning is in a header the RFC makes
// mandatory (r28-sbc F1): never relayed without it. The peers and server
// are on 127.0.66.x.

// serve66 runs a lab server on 127.0.66.10 whose trunk is sbc.
func serve66(t *testing.T, sbc netip.AddrPort, configure func(*mediation.Config)) *mediation.Server {
	t.Helper()
	return serveTo(t, sbc, "udp", func(c *mediation.Config) {
		c.Edge.Listen, c.GatewayListen = "127.0.66.10:0", "127.0.66.10:0"
		c.HTTPListen, c.Admin.Listen = "127.0.66.10:0", "127.0.66.10:0"
		if configure != nil {
			configure(c)
		}
	})
}

// peer66 starts a peer on 127.0.66.<host>.
func peer66(t *testing.T, name string, host int) *peer {
	t.Helper()
	return startPeerOn(t, name, netip.MustParseAddrPort(fmt.Sprintf("127.0.66.%d:0", host)), nil)
}

const sbcChallenge = `Digest realm="sbc.example.com", nonce="8f2a", algorithm=MD5, qop="auth"`

// farFailureCase is a far-side failure with the headers it carries, and
// what the caller must get (farFailureCases).
type farFailureCase struct {
	name    string
	code    int
	hdrs    []gosip.Header
	want    int
	copied  []string
	warning string
}

// farFailureCases are far-side failures with the headers they carry, and
// what the caller must get: code, the headers it must have (name: value),
// and the text its Warning must contain ("": no Warning of ours; %s: whom
// we do not authenticate to).
var farFailureCases = []farFailureCase{
	// RFC 3261 §21.4.2, §21.4.8: the challenge is for us, who do not
	// authenticate; the caller cannot answer it on our behalf.
	{"401", 401, []gosip.Header{gosip.NewHeader("WWW-Authenticate", sbcChallenge)}, 403, nil,
		"challenged the INVITE (401); the mediation server does not authenticate to %s"},
	{"407", 407, []gosip.Header{gosip.NewHeader("Proxy-Authenticate", sbcChallenge)}, 403, nil,
		"challenged the INVITE (407); the mediation server does not authenticate to %s"},
	// RFC 3261 §21.4.13: relayed with what is acceptable.
	{"415", 415, []gosip.Header{gosip.NewHeader("Accept", "application/sdp"), gosip.NewHeader("Accept-Language", "en")}, 415,
		[]string{"Accept: application/sdp", "Accept-Language: en"}, ""},
	{"415 without Accept", 415, nil, 500, nil, "answered 415 without a usable Accept"},
	// RFC 3261 §21.4.17.
	{"423", 423, []gosip.Header{gosip.NewHeader("Min-Expires", "3600")}, 423, []string{"Min-Expires: 3600"}, ""},
	// RFC 5360 §5.9.2, RFC 3329 §2.3.1: headers the server does not relay
	// (r28-review F7).
	{"470", 470, []gosip.Header{gosip.NewHeader("Permission-Missing", "<sip:b@example.com>")}, 500, nil, "answered 470, which needs Permission-Missing"},
	{"494", 494, []gosip.Header{gosip.NewHeader("Security-Server", "digest")}, 500, nil, "answered 494, which needs Security-Server"},
	// RFC 4028 §6: a 422 that cannot be retried (no Min-SE) is no 422 of ours.
	{"422 without Min-SE", 422, nil, 500, nil, "refused the session interval (422)"},
}

// checkFarFailure checks the caller's answer res to a far-side failure.
func checkFarFailure(t *testing.T, res *gosip.Response, want int, copied []string, warning string) {
	t.Helper()
	if res.StatusCode != want {
		t.Fatalf("caller got %d %s, want %d:\n%s", res.StatusCode, res.Reason, want, res)
	}
	for _, c := range copied {
		name, value, _ := strings.Cut(c, ": ")
		if got := header(res, name); got != value {
			t.Errorf("%s %q, want %q:\n%s", name, got, value, res)
		}
	}
	if warning == "" {
		return
	}
	if w := header(res, "Warning"); !strings.Contains(w, warning) {
		t.Errorf("Warning %q, want one saying %q", w, warning)
	}
	for _, name := range []string{"WWW-Authenticate", "Proxy-Authenticate"} {
		if res.GetHeader(name) != nil {
			t.Errorf("the far side's %s reached the caller:\n%s", name, res)
		}
	}
}

// TestFarFailureNeedingHeaderOutbound: the SBC's 401, 407, 415, 423 or
// unretriable 422 (each a failure whose meaning is in a header it must
// carry) reaches the client either with that header (415 Accept, 423
// Min-Expires) or as a code that needs none with a Warning saying why
// (403 for a challenge, 500), never as the bare code (r28-sbc F1).
func TestFarFailureNeedingHeaderOutbound(t *testing.T) {
	for _, tt := range farFailureCases {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testCtx(t, 20*time.Second)
			sbc := peer66(t, "sbc", 11)
			sbc.invites(func(pi *peerInvite) { pi.respond(tt.code, nil, tt.hdrs...) })
			srv := serve66(t, sbc.addr(), nil)
			caller := peer66(t, "caller", 12)
			oc := caller.call(ctx, srv.EdgeAddr(), "udp", fixtureBody(t, "sfb-bypass-offer.sdp"))
			checkFarFailure(t, oc.answer(ctx, nil), tt.want, tt.copied, strings.Replace(tt.warning, "%s", "trunks", 1))
		})
	}
}

// TestFarFailureNeedingHeaderInbound: the same failures from the client
// of an SBC's call reach the SBC the same way.
func TestFarFailureNeedingHeaderInbound(t *testing.T) {
	for _, tt := range farFailureCases {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testCtx(t, 20*time.Second)
			sbc, edge := peer66(t, "sbc", 11), peer66(t, "edge", 13)
			edge.invites(func(pi *peerInvite) { pi.respond(tt.code, nil, tt.hdrs...) })
			srv := serve66(t, sbc.addr(), func(c *mediation.Config) { c.Edge.Peer = edge.addr().String() })
			oc := sbc.call(ctx, srv.GatewayAddr(), "udp", loopSDP(sockPort(rtpSock(t)), "sendrecv", true, "PCMU", "PCMA"))
			checkFarFailure(t, oc.answer(ctx, nil), tt.want, tt.copied, strings.Replace(tt.warning, "%s", "clients", 1))
		})
	}
}

// TestFar422RetriedWithoutOwnTimer: a 422 to an INVITE of ours that asked
// for no session timer (the trunk's and the edge's session_timer off, the
// default) is INVITEd again once with its Min-SE as Session-Expires (RFC
// 4028 §7.4; a proxy on the way may have put a Session-Expires in our
// INVITE, §8.1), and the call goes on; a 422 to that retry too gets the
// caller 500 with a Warning, not a 422 without Min-SE.
func TestFar422RetriedWithoutOwnTimer(t *testing.T) {
	for _, dir := range []string{"outbound", "inbound"} {
		for _, again := range []bool{false, true} {
			name := dir
			if again {
				name += "/422 again"
			}
			t.Run(name, func(t *testing.T) {
				ctx := testCtx(t, 20*time.Second)
				sbc := peer66(t, "sbc", 11)
				callee := sbc
				if dir == "inbound" {
					callee = peer66(t, "edge", 13)
				}
				callee.invites(func(pi *peerInvite) {
					if header(pi.req, "Session-Expires") == "" || again {
						pi.respond(422, nil, gosip.NewHeader("Min-SE", "1800"))
						return
					}
					pi.respond(200, fixtureBody(t, "sbc-answer-pcma.sdp"), gosip.NewHeader("Session-Expires", "1800;refresher=uac"))
				})
				srv := serve66(t, sbc.addr(), func(c *mediation.Config) {
					if dir == "inbound" {
						c.Edge.Peer = callee.addr().String()
					}
				})
				var oc *outCall
				if dir == "outbound" {
					oc = peer66(t, "caller", 12).call(ctx, srv.EdgeAddr(), "udp", fixtureBody(t, "sfb-bypass-offer.sdp"))
				} else {
					oc = sbc.call(ctx, srv.GatewayAddr(), "udp", loopSDP(sockPort(rtpSock(t)), "sendrecv", true, "PCMU", "PCMA"))
				}
				res := oc.answer(ctx, nil)
				if first := callee.wait(ctx, gosip.INVITE, 1); header(first, "Session-Expires") != "" {
					t.Fatalf("our first INVITE asked for a timer (%s): the test needs one that did not", header(first, "Session-Expires"))
				}
				second := callee.wait(ctx, gosip.INVITE, 2)
				if se, min := header(second, "Session-Expires"), header(second, "Min-SE"); se != "1800;refresher=uac" || min != "1800" {
					t.Errorf("INVITE after the 422: Session-Expires %q, Min-SE %q, want 1800;refresher=uac and 1800", se, min)
				}
				if again {
					checkFarFailure(t, res, 500, nil, "refused the session interval (422)")
					if n := callee.count(gosip.INVITE); n != 2 {
						t.Errorf("%d INVITEs, want 2: a 422 to the retry is not retried", n)
					}
					return
				}
				if res.StatusCode != 200 {
					t.Fatalf("caller got %d, want 200 after the retry", res.StatusCode)
				}
				_ = oc.d.Ack(ctx)
				_ = oc.d.Bye(ctx)
				callee.wait(ctx, gosip.BYE, 1)
			})
		}
	}
}

// TestFarChallengeTranslated: response_code_translation applies to a
// challenge as to any failure, by the code received (a rule for 401 turns
// our 403 into its code, the Warning kept); a rule that names a code
// needing a header the server has none of (480 to 401, which needs
// WWW-Authenticate) gets the caller 500 with a Warning instead of a
// malformed 401.
func TestFarChallengeTranslated(t *testing.T) {
	for _, tt := range []struct {
		name    string
		code    int
		hdrs    []gosip.Header
		rule    mediation.CodeTranslation
		want    int
		warning string
	}{
		{"401 to 404", 401, []gosip.Header{gosip.NewHeader("WWW-Authenticate", sbcChallenge)},
			mediation.CodeTranslation{Received: 401, Translated: 404}, 404, "challenged the INVITE (401)"},
		{"480 to 401", 480, nil, mediation.CodeTranslation{Received: 480, Translated: 401}, 500,
			"answered 480, translated to 401, which needs WWW-Authenticate"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testCtx(t, 20*time.Second)
			sbc := peer66(t, "sbc", 11)
			sbc.invites(func(pi *peerInvite) { pi.respond(tt.code, nil, tt.hdrs...) })
			srv := serve66(t, sbc.addr(), func(c *mediation.Config) {
				c.Gateways[0].ResponseCodeTranslation = []mediation.CodeTranslation{tt.rule}
			})
			caller := peer66(t, "caller", 12)
			oc := caller.call(ctx, srv.EdgeAddr(), "udp", fixtureBody(t, "sfb-bypass-offer.sdp"))
			checkFarFailure(t, oc.answer(ctx, nil), tt.want, nil, tt.warning)
		})
	}
}

// TestFarFailureNeedingHeaderReoffer: the SBC refuses a hold re-INVITE we
// relayed from the client with a failure whose meaning is in a header: the
// client gets it mapped as a callee's failure is (TestFarFailureNeedingHeaderOutbound),
// a challenge as 403, a 415 with the SBC's Accept, a 470 as 500, each with
// the Warning that says why; it used to get the code alone (r28-review2 F5).
func TestFarFailureNeedingHeaderReoffer(t *testing.T) {
	for _, tt := range []farFailureCase{
		{"401", 401, []gosip.Header{gosip.NewHeader("WWW-Authenticate", sbcChallenge)}, 403, nil,
			"challenged the INVITE (401); the mediation server does not authenticate to trunks"},
		{"415", 415, []gosip.Header{gosip.NewHeader("Accept", "application/sdp")}, 415, []string{"Accept: application/sdp"}, ""},
		{"470", 470, []gosip.Header{gosip.NewHeader("Permission-Missing", "<sip:b@example.com>")}, 500, nil, "answered 470, which needs Permission-Missing"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testCtx(t, 20*time.Second)
			sbc := midRaw(t, 2)
			srv := midServe(t, sbc.addr(), "udp", nil)
			caller := midPeer(t, "caller", 3)
			h := startPendingHold(ctx, t, srv, sbc, caller)
			res := gosip.NewResponseFromRequest(h.rinv, tt.code, "Refused", nil)
			for _, hd := range tt.hdrs {
				res.AppendHeader(hd)
			}
			if _, err := sbc.conn.WriteToUDPAddrPort([]byte(res.String()), h.rfrom); err != nil {
				t.Fatal(err)
			}
			checkFarFailure(t, finalOf(ctx, t, h.tx), tt.want, tt.copied, tt.warning)
			if n := len(srv.Calls()); n != 1 {
				t.Errorf("%d calls, want the call going on after its refused re-offer", n)
			}
		})
	}
}

// TestFarChallengeLogged: the SBC's challenges of our INVITEs are logged at
// warn with their realm, which tells the operator which peer wants
// credentials, once in 10 s however many calls it challenges (README,
// "Failures are relayed").
func TestFarChallengeLogged(t *testing.T) {
	ctx := testCtx(t, 20*time.Second)
	sbc := peer66(t, "sbc", 11)
	sbc.invites(func(pi *peerInvite) {
		pi.respond(401, nil, gosip.NewHeader("WWW-Authenticate", sbcChallenge))
	})
	logs := new(syncBuffer)
	cfg := labConfig(sbc.addr(), "udp")
	cfg.Edge.Listen, cfg.GatewayListen = "127.0.66.10:0", "127.0.66.10:0"
	srv := mediationtest.Serve(t, cfg, zerolog.New(logs).Level(zerolog.WarnLevel))
	caller := peer66(t, "caller", 12)
	for range 3 {
		if res := caller.call(ctx, srv.EdgeAddr(), "udp", fixtureBody(t, "sfb-bypass-offer.sdp")).answer(ctx, nil); res.StatusCode != 403 {
			t.Fatalf("caller got %d, want 403", res.StatusCode)
		}
	}
	var found []map[string]any
	for _, l := range logs.lines() {
		if msg, _ := l["message"].(string); strings.HasPrefix(msg, "far side challenged our INVITE") {
			found = append(found, l)
		}
	}
	if len(found) != 1 || found[0]["level"] != "warn" || found[0]["realm"] != "sbc.example.com" {
		t.Fatalf("challenge log lines %v, want one warning with realm sbc.example.com for three challenged calls", found)
	}
}

package endpoint

import (
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

const testBypassID = "be38f190-a24a-4a72-b66c-b09fd0909ebc"

var transports = []string{"udp", "tcp"}

// checkAnswered asserts what both sides of an answered call must agree on.
func checkAnswered(t *testing.T, caller, callee CallReport, callerHz, calleeHz float64, codec string) {
	t.Helper()
	if caller.Code != 200 || callee.Code != 200 {
		t.Errorf("codes: caller %d, callee %d, want 200", caller.Code, callee.Code)
	}
	if caller.CallID == "" || caller.CallID != callee.CallID {
		t.Errorf("call IDs: caller %q, callee %q", caller.CallID, callee.CallID)
	}
	if caller.Direction != Outbound || callee.Direction != Inbound {
		t.Errorf("directions: caller %q, callee %q", caller.Direction, callee.Direction)
	}
	if caller.From != callee.From || caller.To != callee.To {
		t.Errorf("users: caller %s->%s, callee %s->%s", caller.From, caller.To, callee.From, callee.To)
	}
	for _, side := range []struct {
		name     string
		r, peer  CallReport
		wantHz   float64
		wantPT   int
		wantCode string
	}{
		{"caller", caller, callee, calleeHz, ptOf(codec), codec},
		{"callee", callee, caller, callerHz, ptOf(codec), codec},
	} {
		r := side.r
		if r.Codec != side.wantCode {
			t.Errorf("%s: codec %q, want %q", side.name, r.Codec, side.wantCode)
		}
		if !near(r.DetectedHz, side.wantHz) {
			t.Errorf("%s: heard %.1f Hz, want %.0f", side.name, r.DetectedHz, side.wantHz)
		}
		if r.ReceivedPT != side.wantPT {
			t.Errorf("%s: received PT %d, want %d", side.name, r.ReceivedPT, side.wantPT)
		}
		if r.PacketsSent < 10 || r.PacketsReceived < 10 {
			t.Errorf("%s: sent %d, received %d packets", side.name, r.PacketsSent, r.PacketsReceived)
		}
		if r.MediaTo != side.peer.MediaLocal {
			t.Errorf("%s: media to %s, peer's media is %s", side.name, r.MediaTo, side.peer.MediaLocal)
		}
		if r.MediaFrom != side.peer.MediaLocal {
			t.Errorf("%s: media from %s, peer's media is %s", side.name, r.MediaFrom, side.peer.MediaLocal)
		}
		if len(r.OfferSDP) == 0 || len(r.AnswerSDP) == 0 {
			t.Errorf("%s: offer %d bytes, answer %d bytes", side.name, len(r.OfferSDP), len(r.AnswerSDP))
		}
		if r.Err != nil {
			t.Errorf("%s: err %v", side.name, r.Err)
		}
		if r.EventPT != 101 || r.DigitsReceived != "" || r.DigitsSent != "" {
			t.Errorf("%s: telephone-event PT %d, digits sent %q, received %q; want 101 and none", side.name, r.EventPT, r.DigitsSent, r.DigitsReceived)
		}
		checkReception(t, r)
	}
}

func without100(codes []int) []int {
	var out []int
	for _, c := range codes {
		if c != 100 {
			out = append(out, c)
		}
	}
	return out
}

func ptOf(codec string) int {
	if codec == PCMA {
		return 8
	}
	return 0
}

func TestClientCallsSBC(t *testing.T) {
	type want struct {
		code            int
		callerEnded     string
		calleeEnded     string
		callerProv      []int
		answered, early bool
		codec           string
	}
	cases := []struct {
		name string
		sbc  SBCConfig
		opt  CallOptions
		want want
	}{
		{
			name: "client hangs up",
			opt:  CallOptions{Duration: time.Second},
			want: want{200, EndedLocalBye, EndedRemoteBye, []int{100, 183}, true, true, PCMA},
		},
		{
			name: "SBC prefers PCMU",
			sbc:  SBCConfig{Codecs: []string{"pcmu"}},
			want: want{200, EndedLocalBye, EndedRemoteBye, []int{100, 183}, true, true, PCMU},
		},
		{
			name: "SBC hangs up",
			sbc:  SBCConfig{HangupAfter: time.Second},
			opt:  CallOptions{WaitRemoteHangup: true},
			want: want{200, EndedRemoteBye, EndedLocalBye, []int{100, 183}, true, true, PCMA},
		},
		{
			name: "180 without SDP",
			sbc:  SBCConfig{Progress: ProgressRinging},
			want: want{200, EndedLocalBye, EndedRemoteBye, []int{100, 180}, true, false, PCMA},
		},
		{
			name: "no provisional",
			sbc:  SBCConfig{Progress: ProgressNone},
			want: want{200, EndedLocalBye, EndedRemoteBye, []int{100}, true, false, PCMA},
		},
		{
			name: "busy",
			sbc:  SBCConfig{Reject: 486},
			want: want{486, EndedRejected, EndedRejected, []int{100}, false, false, ""},
		},
		{
			name: "cancel while ringing",
			sbc:  SBCConfig{NoAnswer: true},
			opt:  CallOptions{CancelOnRinging: true},
			want: want{487, EndedCancel, EndedCancel, []int{100, 183}, false, true, ""},
		},
	}
	for _, tc := range cases {
		for _, tr := range transports {
			t.Run(tc.name+"/"+tr, func(t *testing.T) {
				ctx := testContext(t)
				sbc := startSBC(t, ctx, tc.sbc)
				client := startClient(t, ctx, ClientConfig{})
				opt := tc.opt
				opt.Target, opt.Transport, opt.To, opt.From = sbc.Addr(), tr, "+15550100", "alice"
				caller, err := client.Call(ctx, opt)
				if err != nil {
					t.Fatalf("Call: %v", err)
				}
				callee, err := sbc.NextCall(ctx)
				if err != nil {
					t.Fatalf("NextCall: %v", err)
				}
				if caller.Code != tc.want.code || callee.Code != tc.want.code {
					t.Errorf("codes: caller %d, callee %d, want %d", caller.Code, callee.Code, tc.want.code)
				}
				if caller.EndedBy != tc.want.callerEnded || callee.EndedBy != tc.want.calleeEnded {
					t.Errorf("ended by: caller %q, callee %q, want %q, %q",
						caller.EndedBy, callee.EndedBy, tc.want.callerEnded, tc.want.calleeEnded)
				}
				if !slices.Equal(callee.Provisional, tc.want.callerProv) {
					t.Errorf("provisional sent: %v, want %v", callee.Provisional, tc.want.callerProv)
				}
				// sipgo hands each response to the transaction in its own
				// goroutine: a 100 may come after the 183, or be dropped after the final.
				if got, want := without100(caller.Provisional), without100(tc.want.callerProv); !slices.Equal(got, want) {
					t.Errorf("provisional received: %v, want %v (100 optional)", caller.Provisional, tc.want.callerProv)
				}
				if (len(caller.EarlySDP) > 0) != tc.want.early {
					t.Errorf("early SDP: %q", caller.EarlySDP)
				}
				if caller.BypassOffered || caller.BypassAnswered || callee.BypassOffered || callee.BypassAnswered {
					t.Errorf("bypass seen without a bypass ID: caller %v/%v, callee %v/%v",
						caller.BypassOffered, caller.BypassAnswered, callee.BypassOffered, callee.BypassAnswered)
				}
				if tc.want.answered {
					// The client offers PCMU first; the SBC's preference decides.
					checkAnswered(t, caller, callee, 1000, 440, tc.want.codec)
					return
				}
				if caller.Err != nil || callee.Err != nil {
					t.Errorf("errors: caller %v, callee %v", caller.Err, callee.Err)
				}
				if !tc.want.early && (caller.PacketsSent != 0 || callee.PacketsSent != 0) {
					t.Errorf("media without early media: caller sent %d, callee sent %d", caller.PacketsSent, callee.PacketsSent)
				}
			})
		}
	}
}

func TestSBCCallsClient(t *testing.T) {
	otherID := "0c7e5a4e-6d1f-4b8e-9f43-1a2b3c4d5e6f"
	cases := []struct {
		name         string
		clientID     string // ClientConfig.BypassID
		offerID      string // CallOptions.BypassID
		wantAnswered bool   // a=x-bypassid in the client's answer
	}{
		{"matching bypass ID", testBypassID, testBypassID, true},
		{"matching bypass ID, other case", testBypassID, strings.ToUpper(testBypassID), true},
		{"different bypass ID", testBypassID, otherID, false},
		{"client without bypass", "", testBypassID, false},
		{"offer without bypass", testBypassID, "", false},
	}
	for _, tc := range cases {
		for _, tr := range transports {
			t.Run(tc.name+"/"+tr, func(t *testing.T) {
				ctx := testContext(t)
				sbc := startSBC(t, ctx, SBCConfig{})
				client := startClient(t, ctx, ClientConfig{BypassID: tc.clientID, HangupAfter: time.Second})
				caller, err := sbc.Call(ctx, CallOptions{
					Target: client.Addr(), Transport: tr, BypassID: tc.offerID, WaitRemoteHangup: true,
				})
				if err != nil {
					t.Fatalf("Call: %v", err)
				}
				callee, err := client.NextCall(ctx)
				if err != nil {
					t.Fatalf("NextCall: %v", err)
				}
				// The SBC offers PCMA first; the client takes the offer's first G.711.
				checkAnswered(t, caller, callee, 440, 1000, PCMA)
				if caller.EndedBy != EndedRemoteBye || callee.EndedBy != EndedLocalBye {
					t.Errorf("ended by: caller %q, callee %q", caller.EndedBy, callee.EndedBy)
				}
				if !slices.Equal(callee.Provisional, []int{100, 180}) {
					t.Errorf("client sent %v, want [100 180]", callee.Provisional)
				}
				if len(caller.EarlySDP) != 0 {
					t.Errorf("client's 180 carried SDP: %q", caller.EarlySDP)
				}
				wantOffered := tc.offerID != ""
				if caller.BypassOffered != wantOffered || callee.BypassOffered != wantOffered {
					t.Errorf("bypass offered: caller %v, callee %v, want %v", caller.BypassOffered, callee.BypassOffered, wantOffered)
				}
				if caller.BypassAnswered != tc.wantAnswered || callee.BypassAnswered != tc.wantAnswered {
					t.Errorf("bypass answered: caller %v, callee %v, want %v", caller.BypassAnswered, callee.BypassAnswered, tc.wantAnswered)
				}
				if got := attrValue(t, callee.AnswerSDP, attrBypassID); tc.wantAnswered && got != tc.clientID {
					t.Errorf("answer a=x-bypassid %q, want the client's %q", got, tc.clientID)
				}
			})
		}
	}
}

// TestNoResponse calls an address that takes the INVITE and never answers:
// the report says nobody responded, not that a server sent 408, in one line.
func TestNoResponse(t *testing.T) {
	ctx := testContext(t)
	hole, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hole.Close()
	client := startClient(t, ctx, ClientConfig{})
	target := netip.MustParseAddrPort(hole.LocalAddr().String())
	r, err := client.Call(ctx, CallOptions{Target: target, ResponseTimeout: 300 * time.Millisecond})
	var nr *NoResponseError
	if !errors.As(err, &nr) || r.Code != 0 || r.EndedBy != EndedError || !errors.As(r.Err, &nr) {
		t.Fatalf("call to a silent address: code %d, ended by %q, err %v", r.Code, r.EndedBy, err)
	}
	want := "no response from " + target.String() + "/udp (timeout after "
	if msg := err.Error(); !strings.Contains(msg, want) || strings.Contains(msg, "\n") || strings.Contains(msg, "Timer_B") {
		t.Errorf("error %q, want one line with %q", msg, want)
	}
}

package sip

import (
	"errors"
	"slices"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"
)

func inviteWith(t *testing.T, extra ...string) *gosip.Request {
	t.Helper()
	lines := []string{
		"INVITE sip:b@example.com SIP/2.0",
		"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds",
		"Max-Forwards: 70",
		"From: <sip:a@example.com>;tag=1928301774",
		"To: <sip:b@example.com>",
		"Call-ID: a84b4c76e66710",
		"CSeq: 314159 INVITE",
		"Contact: <sip:a@192.0.2.1:5060>",
	}
	return parseRequest(t, append(lines, extra...)...)
}

func okWith(t *testing.T, extra ...string) *gosip.Response {
	t.Helper()
	return provisional(t, "200 OK", extra...)
}

func headerStrings(hs []gosip.Header) []string {
	var out []string
	for _, h := range hs {
		out = append(out, h.String())
	}
	return out
}

func TestParseSessionExpires(t *testing.T) {
	tests := []struct {
		name    string
		headers []string
		want    SessionExpires
		wantOK  bool
		wantErr bool
	}{
		{"absent", nil, SessionExpires{}, false, false},
		{"bare", []string{"Session-Expires: 1800"}, SessionExpires{1800 * time.Second, ""}, true, false},
		{"refresher uac", []string{"Session-Expires: 4000;refresher=uac"}, SessionExpires{4000 * time.Second, RefresherUAC}, true, false},
		{"refresher uas, spaces, case", []string{"Session-Expires: 90 ; Refresher=UAS"}, SessionExpires{90 * time.Second, RefresherUAS}, true, false},
		{"compact form", []string{"x: 600;refresher=uas"}, SessionExpires{600 * time.Second, RefresherUAS}, true, false},
		{"other params ignored", []string{"Session-Expires: 1800;foo=bar;refresher=uac;baz"}, SessionExpires{1800 * time.Second, RefresherUAC}, true, false},
		{"first header counts", []string{"Session-Expires: 1800", "Session-Expires: 900"}, SessionExpires{1800 * time.Second, ""}, true, false},
		{"largest delta-seconds", []string{"Session-Expires: 4294967295"}, SessionExpires{4294967295 * time.Second, ""}, true, false},
		{"not a number", []string{"Session-Expires: soon"}, SessionExpires{}, true, true},
		{"negative", []string{"Session-Expires: -1800"}, SessionExpires{}, true, true},
		{"fraction", []string{"Session-Expires: 1800.5"}, SessionExpires{}, true, true},
		{"empty", []string{"Session-Expires:"}, SessionExpires{}, true, true},
		{"too big", []string{"Session-Expires: 4294967296"}, SessionExpires{}, true, true},
		{"bad refresher", []string{"Session-Expires: 1800;refresher=both"}, SessionExpires{}, true, true},
		{"empty refresher", []string{"Session-Expires: 1800;refresher="}, SessionExpires{}, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok, err := ParseSessionExpires(inviteWith(t, tt.headers...))
			if got != tt.want || ok != tt.wantOK || (err != nil) != tt.wantErr {
				t.Errorf("ParseSessionExpires = %+v, %v, %v; want %+v, %v, error %v", got, ok, err, tt.want, tt.wantOK, tt.wantErr)
			}
		})
	}
}

func TestParseMinSE(t *testing.T) {
	tests := []struct {
		name    string
		headers []string
		want    time.Duration
		wantOK  bool
		wantErr bool
	}{
		{"absent", nil, 0, false, false},
		{"present", []string{"Min-SE: 90"}, 90 * time.Second, true, false},
		{"with a param", []string{"Min-SE: 120;foo=bar"}, 120 * time.Second, true, false},
		{"name case", []string{"MIN-SE: 300"}, 300 * time.Second, true, false},
		{"not a number", []string{"Min-SE: ninety"}, 0, true, true},
		{"empty", []string{"Min-SE:"}, 0, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok, err := ParseMinSE(inviteWith(t, tt.headers...))
			if got != tt.want || ok != tt.wantOK || (err != nil) != tt.wantErr {
				t.Errorf("ParseMinSE = %v, %v, %v; want %v, %v, error %v", got, ok, err, tt.want, tt.wantOK, tt.wantErr)
			}
		})
	}
}

func TestSessionTimerHeaders(t *testing.T) {
	tests := []struct {
		name string
		h    gosip.Header
		want string
	}{
		{"with refresher", SessionExpires{1800 * time.Second, RefresherUAC}.Header(), "Session-Expires: 1800;refresher=uac"},
		{"without refresher", SessionExpires{Interval: 90 * time.Second}.Header(), "Session-Expires: 90"},
		{"sub-second truncated", SessionExpires{Interval: 1800*time.Second + 900*time.Millisecond}.Header(), "Session-Expires: 1800"},
		{"Min-SE", MinSEHeader(MinSessionInterval), "Min-SE: 90"},
		{"negative Min-SE", MinSEHeader(-time.Second), "Min-SE: 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.h.String(); got != tt.want {
				t.Errorf("header = %q, want %q", got, tt.want)
			}
		})
	}
	// What Header writes, ParseSessionExpires reads.
	se := SessionExpires{600 * time.Second, RefresherUAS}
	res := gosip.NewResponse(200, "OK")
	res.AppendHeader(se.Header())
	if got, ok, err := ParseSessionExpires(res); got != se || !ok || err != nil {
		t.Errorf("round trip = %+v, %v, %v", got, ok, err)
	}
}

func TestSessionTimerDeadlines(t *testing.T) {
	tests := []struct {
		interval            time.Duration
		wantRefresh, wantBy time.Duration
	}{
		// 1800 s: a third is 600 s, so 32 s is the lesser.
		{DefaultSessionInterval, 900 * time.Second, 1768 * time.Second},
		// 90 s: a third is 30 s, less than 32 s.
		{MinSessionInterval, 45 * time.Second, 60 * time.Second},
		// 96 s: a third is exactly 32 s.
		{96 * time.Second, 48 * time.Second, 64 * time.Second},
		{0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.interval.String(), func(t *testing.T) {
			st := SessionTimer{Active: true, Interval: tt.interval}
			if got := st.RefreshAfter(); got != tt.wantRefresh {
				t.Errorf("RefreshAfter = %v, want %v", got, tt.wantRefresh)
			}
			if got := st.ExpireAfter(); got != tt.wantBy {
				t.Errorf("ExpireAfter = %v, want %v", got, tt.wantBy)
			}
		})
	}
}

func TestNegotiateUAS(t *testing.T) {
	tests := []struct {
		name                  string
		headers               []string
		minSE                 time.Duration
		want                  SessionTimer
		wantTooSmall, wantErr bool
		wantAnswer            []string
	}{
		{
			name:    "no Session-Expires: inactive",
			headers: []string{"Supported: timer"},
			minSE:   MinSessionInterval,
		},
		{
			name:    "no Session-Expires, Min-SE only: inactive",
			headers: []string{"Supported: timer", "Min-SE: 120"},
			minSE:   MinSessionInterval,
		},
		{
			name:       "UAC supports timer, no refresher: UAC refreshes",
			headers:    []string{"Supported: 100rel, timer", "Session-Expires: 1800"},
			minSE:      MinSessionInterval,
			want:       SessionTimer{Active: true, Interval: 1800 * time.Second, Refresher: RefresherUAC},
			wantAnswer: []string{"Session-Expires: 1800;refresher=uac", "Require: timer"},
		},
		{
			name:       "UAC without timer support (proxy-inserted): we refresh",
			headers:    []string{"Session-Expires: 1800"},
			minSE:      MinSessionInterval,
			want:       SessionTimer{Active: true, Interval: 1800 * time.Second, Refresher: RefresherUAS, WeRefresh: true},
			wantAnswer: []string{"Session-Expires: 1800;refresher=uas"},
		},
		{
			name:       "UAC without timer support asking refresher=uac: we refresh all the same",
			headers:    []string{"Session-Expires: 120;refresher=uac"},
			minSE:      MinSessionInterval,
			want:       SessionTimer{Active: true, Interval: 120 * time.Second, Refresher: RefresherUAS, WeRefresh: true},
			wantAnswer: []string{"Session-Expires: 120;refresher=uas"},
		},
		{
			name:       "refresher uas requested",
			headers:    []string{"Supported: timer", "Session-Expires: 600;refresher=uas"},
			minSE:      MinSessionInterval,
			want:       SessionTimer{Active: true, Interval: 600 * time.Second, Refresher: RefresherUAS, WeRefresh: true},
			wantAnswer: []string{"Session-Expires: 600;refresher=uas", "Require: timer"},
		},
		{
			name:       "refresher uac requested, compact forms",
			headers:    []string{"k: timer", "x: 600;refresher=uac"},
			minSE:      MinSessionInterval,
			want:       SessionTimer{Active: true, Interval: 600 * time.Second, Refresher: RefresherUAC},
			wantAnswer: []string{"Session-Expires: 600;refresher=uac", "Require: timer"},
		},
		{
			name:       "timer in Require counts as supported",
			headers:    []string{"Require: timer", "Session-Expires: 1800"},
			minSE:      MinSessionInterval,
			want:       SessionTimer{Active: true, Interval: 1800 * time.Second, Refresher: RefresherUAC},
			wantAnswer: []string{"Session-Expires: 1800;refresher=uac", "Require: timer"},
		},
		{
			name:       "exactly our Min-SE",
			headers:    []string{"Supported: timer", "Session-Expires: 300", "Min-SE: 300"},
			minSE:      300 * time.Second,
			want:       SessionTimer{Active: true, Interval: 300 * time.Second, Refresher: RefresherUAC},
			wantAnswer: []string{"Session-Expires: 300;refresher=uac", "Require: timer"},
		},
		{
			name:         "below our Min-SE: 422",
			headers:      []string{"Supported: timer", "Session-Expires: 200"},
			minSE:        300 * time.Second,
			wantTooSmall: true,
		},
		{
			name:       "a lab's Min-SE below RFC 4028's 90 s is taken as given",
			headers:    []string{"Supported: timer", "Session-Expires: 60"},
			minSE:      30 * time.Second,
			want:       SessionTimer{Active: true, Interval: 60 * time.Second, Refresher: RefresherUAC},
			wantAnswer: []string{"Session-Expires: 60;refresher=uac", "Require: timer"},
		},
		{
			name:         "below the request's own Min-SE",
			headers:      []string{"Supported: timer", "Session-Expires: 200", "Min-SE: 600"},
			minSE:        MinSessionInterval,
			wantTooSmall: true,
		},
		{
			name:    "malformed Session-Expires: 400",
			headers: []string{"Session-Expires: 30 minutes"},
			minSE:   MinSessionInterval,
			wantErr: true,
		},
		{
			name:    "malformed refresher: 400",
			headers: []string{"Session-Expires: 1800;refresher=me"},
			minSE:   MinSessionInterval,
			wantErr: true,
		},
		{
			name:    "malformed Min-SE without Session-Expires: inactive",
			headers: []string{"Supported: timer", "Min-SE: x"},
			minSE:   MinSessionInterval,
		},
		{
			name:    "malformed Min-SE: 400",
			headers: []string{"Session-Expires: 1800", "Min-SE: x"},
			minSE:   MinSessionInterval,
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := inviteWith(t, tt.headers...)
			got, err := NegotiateUAS(req, tt.minSE)
			if tooSmall := errors.Is(err, ErrIntervalTooSmall); tooSmall != tt.wantTooSmall {
				t.Fatalf("NegotiateUAS error %v, want too small %v", err, tt.wantTooSmall)
			}
			if wantAny := tt.wantTooSmall || tt.wantErr; (err != nil) != wantAny {
				t.Fatalf("NegotiateUAS error %v, want error %v", err, wantAny)
			}
			if got != tt.want {
				t.Errorf("NegotiateUAS = %+v, want %+v", got, tt.want)
			}
			if hs := headerStrings(got.AnswerHeaders(req)); !slices.Equal(hs, tt.wantAnswer) {
				t.Errorf("AnswerHeaders = %q, want %q", hs, tt.wantAnswer)
			}
		})
	}
}

// TestImposedUAS: a caller that neither asked for a timer nor supports one
// gets ours in the 2xx with refresher uas and no Require: timer (RFC 4028
// §9), at least its own Min-SE; one that supports timers but asked for none
// gets ours with refresher uac and Require: timer (§9: the UAS picks the
// refresher, and MUST Require timer when it is the UAC); one that asked
// gets none imposed (NegotiateUAS's).
func TestImposedUAS(t *testing.T) {
	tests := []struct {
		name       string
		headers    []string
		want       SessionTimer
		wantAnswer []string
	}{
		{
			name:       "no timer support, no Session-Expires: we refresh",
			headers:    []string{"Supported: 100rel"},
			want:       SessionTimer{Active: true, Interval: 120 * time.Second, Refresher: RefresherUAS, WeRefresh: true},
			wantAnswer: []string{"Session-Expires: 120;refresher=uas"},
		},
		{
			name:       "the request's higher Min-SE wins",
			headers:    []string{"Min-SE: 300"},
			want:       SessionTimer{Active: true, Interval: 300 * time.Second, Refresher: RefresherUAS, WeRefresh: true},
			wantAnswer: []string{"Session-Expires: 300;refresher=uas"},
		},
		{name: "Session-Expires: NegotiateUAS's", headers: []string{"Session-Expires: 1800"}},
		{
			// RFC 4028 §9: the UAS picks the refresher; a UAC that
			// supports timers refreshes, and the 2xx MUST Require timer.
			name:       "Supported: timer: the caller refreshes",
			headers:    []string{"Supported: timer"},
			want:       SessionTimer{Active: true, Interval: 120 * time.Second, Refresher: RefresherUAC},
			wantAnswer: []string{"Session-Expires: 120;refresher=uac", "Require: timer"},
		},
		{
			name:       "Require: timer, higher Min-SE: the caller refreshes",
			headers:    []string{"Require: timer", "Min-SE: 300"},
			want:       SessionTimer{Active: true, Interval: 300 * time.Second, Refresher: RefresherUAC},
			wantAnswer: []string{"Session-Expires: 300;refresher=uac", "Require: timer"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := inviteWith(t, tt.headers...)
			got := ImposedUAS(req, 120*time.Second)
			if got != tt.want {
				t.Errorf("ImposedUAS = %+v, want %+v", got, tt.want)
			}
			if hs := headerStrings(got.AnswerHeaders(req)); !slices.Equal(hs, tt.wantAnswer) {
				t.Errorf("AnswerHeaders = %q, want %q", hs, tt.wantAnswer)
			}
		})
	}
}

func TestNegotiateUAC(t *testing.T) {
	tests := []struct {
		name      string
		headers   []string
		requested time.Duration
		want      SessionTimer
	}{
		{
			"UAS made us refresher", []string{"Require: timer", "Session-Expires: 1800;refresher=uac"}, 1800 * time.Second,
			SessionTimer{Active: true, Interval: 1800 * time.Second, Refresher: RefresherUAC, WeRefresh: true},
		},
		{
			"UAS refreshes, shorter interval", []string{"Session-Expires: 900;refresher=uas"}, 1800 * time.Second,
			SessionTimer{Active: true, Interval: 900 * time.Second, Refresher: RefresherUAS},
		},
		{
			"UAS imposed a timer we did not ask for", []string{"x: 600;refresher=uas"}, 0,
			SessionTimer{Active: true, Interval: 600 * time.Second, Refresher: RefresherUAS},
		},
		{
			// RFC 4028 §9 makes the UAS name one; lacking it, we refresh.
			"no refresher in the 2xx: we refresh", []string{"Session-Expires: 1200"}, 1800 * time.Second,
			SessionTimer{Active: true, Interval: 1200 * time.Second, Refresher: RefresherUAC, WeRefresh: true},
		},
		{
			// RFC 4028 §7.2: the UAS does not support timers; the UAC keeps
			// one for itself with its own interval.
			"UAS ignored our timer", nil, 1800 * time.Second,
			SessionTimer{Active: true, Interval: 1800 * time.Second, Refresher: RefresherUAC, WeRefresh: true},
		},
		{
			"malformed Session-Expires, as if absent", []string{"Session-Expires: never"}, 600 * time.Second,
			SessionTimer{Active: true, Interval: 600 * time.Second, Refresher: RefresherUAC, WeRefresh: true},
		},
		{"neither asked", nil, 0, SessionTimer{}},
		{"malformed and not asked", []string{"Session-Expires: never"}, 0, SessionTimer{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NegotiateUAC(okWith(t, tt.headers...), tt.requested); got != tt.want {
				t.Errorf("NegotiateUAC = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestRequestHeaders(t *testing.T) {
	tests := []struct {
		name            string
		interval, minSE time.Duration
		want            []string
	}{
		{"default", DefaultSessionInterval, MinSessionInterval, []string{"Session-Expires: 1800;refresher=uac", "Min-SE: 90"}},
		{"after a 422", 600 * time.Second, 600 * time.Second, []string{"Session-Expires: 600;refresher=uac", "Min-SE: 600"}},
		{"no Min-SE", DefaultSessionInterval, 0, []string{"Session-Expires: 1800;refresher=uac"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs := RequestHeaders(tt.interval, tt.minSE)
			if got := headerStrings(hs); !slices.Equal(got, tt.want) {
				t.Errorf("RequestHeaders = %q, want %q", got, tt.want)
			}
			for _, h := range hs {
				if h.Name() == "Supported" {
					t.Error("RequestHeaders must leave Supported to the caller")
				}
			}
		})
	}
	// A UAS reading our request picks us (the UAC) as the refresher.
	req := inviteWith(t, "Supported: timer")
	for _, h := range RequestHeaders(DefaultSessionInterval, MinSessionInterval) {
		req.AppendHeader(h)
	}
	st, err := NegotiateUAS(req, MinSessionInterval)
	if err != nil || st.Refresher != RefresherUAC || st.WeRefresh || st.Interval != DefaultSessionInterval {
		t.Errorf("UAS view of our request = %+v, %v", st, err)
	}
}

func TestAnswerHeadersInactive(t *testing.T) {
	if hs := (SessionTimer{}).AnswerHeaders(inviteWith(t, "Supported: timer")); hs != nil {
		t.Errorf("inactive timer answers %q", headerStrings(hs))
	}
}

// TestKeptFor: a timer kept for a refresh request without Session-Expires
// names its refresher as that request sees it, and never a peer without
// Supported: timer (RFC 4028 §9).
func TestKeptFor(t *testing.T) {
	ours := SessionTimer{Active: true, Interval: 600 * time.Second, Refresher: RefresherUAC, WeRefresh: true} // from our INVITE's 2xx
	theirs := SessionTimer{Active: true, Interval: 600 * time.Second, Refresher: RefresherUAC}                // their INVITE's, they refresh
	timer := inviteWith(t, "Supported: timer")
	plain := inviteWith(t)
	for _, tc := range []struct {
		name      string
		t         SessionTimer
		req       *gosip.Request
		refresher string
		we        bool
		headers   []string
	}{
		{"we refresh", ours, timer, RefresherUAS, true, []string{"Session-Expires: 600;refresher=uas", "Require: timer"}},
		{"we refresh, no Supported", ours, plain, RefresherUAS, true, []string{"Session-Expires: 600;refresher=uas"}},
		{"they refresh", theirs, timer, RefresherUAC, false, []string{"Session-Expires: 600;refresher=uac", "Require: timer"}},
		{"they cannot refresh", theirs, plain, RefresherUAS, true, []string{"Session-Expires: 600;refresher=uas"}},
		{"inactive", SessionTimer{}, plain, "", false, nil},
	} {
		got := tc.t.KeptFor(tc.req)
		if got.Refresher != tc.refresher || got.WeRefresh != tc.we || got.Interval != tc.t.Interval {
			t.Errorf("%s: %+v, want refresher %q, WeRefresh %v", tc.name, got, tc.refresher, tc.we)
		}
		if hs := headerStrings(got.AnswerHeaders(tc.req)); !slices.Equal(hs, tc.headers) {
			t.Errorf("%s: answer headers %q, want %q", tc.name, hs, tc.headers)
		}
	}
}

package sip

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	gosip "github.com/emiago/sipgo/sip"
)

const (
	// DefaultSessionInterval is the session interval RFC 4028 §4
	// recommends (30 minutes).
	DefaultSessionInterval = 1800 * time.Second
	// MinSessionInterval is the floor of any Min-SE (RFC 4028 §5: 90 s).
	MinSessionInterval = 90 * time.Second
)

// Refresher values of Session-Expires (RFC 4028 §4).
const (
	RefresherUAC = "uac"
	RefresherUAS = "uas"
)

// SessionExpires is a Session-Expires header (also compact form "x",
// RFC 4028 §4): delta-seconds and refresher ("" when absent).
type SessionExpires struct {
	Interval  time.Duration
	Refresher string
}

// ParseSessionExpires reads msg's Session-Expires (RFC 4028 §4:
// delta-seconds *(SEMI se-params), refresher-param = "refresher" EQUAL
// ("uas" / "uac")); ok false when absent; error when malformed. Only the
// first header counts. sipgo keeps the header generic: the value is split
// at the first ';' and its parameters parsed with sipgo's parameter parser.
func ParseSessionExpires(msg gosip.Message) (se SessionExpires, ok bool, err error) {
	hs := HeadersNamed(msg, "Session-Expires")
	if len(hs) == 0 {
		return SessionExpires{}, false, nil
	}
	d, params, err := parseDeltaParams(hs[0].Value())
	if err != nil {
		return SessionExpires{}, true, fmt.Errorf("parse Session-Expires %q: %w", hs[0].Value(), err)
	}
	se.Interval = d
	for _, kv := range params {
		if !strings.EqualFold(strings.TrimSpace(kv.K), "refresher") {
			continue
		}
		switch r := strings.ToLower(strings.TrimSpace(kv.V)); r {
		case RefresherUAC, RefresherUAS:
			se.Refresher = r
		default:
			return SessionExpires{}, true, fmt.Errorf("parse Session-Expires %q: refresher %q is neither uac nor uas", hs[0].Value(), kv.V)
		}
	}
	return se, true, nil
}

// ParseMinSE reads msg's Min-SE (RFC 4028 §5: delta-seconds *(SEMI
// generic-param)); ok false when absent; error when malformed.
func ParseMinSE(msg gosip.Message) (d time.Duration, ok bool, err error) {
	hs := HeadersNamed(msg, "Min-SE")
	if len(hs) == 0 {
		return 0, false, nil
	}
	d, _, err = parseDeltaParams(hs[0].Value())
	if err != nil {
		return 0, true, fmt.Errorf("parse Min-SE %q: %w", hs[0].Value(), err)
	}
	return d, true, nil
}

// parseDeltaParams parses delta-seconds *(SEMI generic-param).
func parseDeltaParams(v string) (time.Duration, gosip.HeaderParams, error) {
	num, rest, hasParams := strings.Cut(v, ";")
	num = strings.TrimSpace(num)
	if !allDigits(num) {
		return 0, nil, fmt.Errorf("delta-seconds %q is not a number", num)
	}
	secs, err := strconv.ParseUint(num, 10, 32)
	if err != nil {
		return 0, nil, fmt.Errorf("delta-seconds %q: %w", num, err)
	}
	params := gosip.NewParams()
	if hasParams {
		if _, err := gosip.UnmarshalHeaderParams(rest, ';', '\r', &params); err != nil {
			return 0, nil, fmt.Errorf("parameters %q: %w", rest, err)
		}
	}
	return time.Duration(secs) * time.Second, params, nil
}

// seconds renders a duration as delta-seconds (whole seconds, never
// negative).
func seconds(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	return strconv.FormatInt(int64(d/time.Second), 10)
}

// Header renders "Session-Expires: 1800;refresher=uac" (no refresher param
// when Refresher is "").
func (s SessionExpires) Header() gosip.Header {
	v := seconds(s.Interval)
	if s.Refresher != "" {
		v += ";refresher=" + s.Refresher
	}
	return gosip.NewHeader("Session-Expires", v)
}

// MinSEHeader renders "Min-SE: 90".
func MinSEHeader(d time.Duration) gosip.Header {
	return gosip.NewHeader("Min-SE", seconds(d))
}

// TooSmallMinSE is the Min-SE of our 422 to req, whose Session-Expires
// NegotiateUAS found too small (ErrIntervalTooSmall): minSE, ours, or the
// request's own Min-SE when that is higher, so that a UAC retrying with it
// (RFC 4028 §7.4) clears both floors: a 422 naming a Min-SE below the
// interval it refused would have the UAC send the same request again.
func TooSmallMinSE(req *gosip.Request, minSE time.Duration) time.Duration {
	if theirs, ok, err := ParseMinSE(req); ok && err == nil && theirs > minSE {
		return theirs
	}
	return minSE
}

// SessionTimer is the negotiated timer of one dialog leg.
type SessionTimer struct {
	Active    bool // a Session-Expires was negotiated
	Interval  time.Duration
	Refresher string // RefresherUAC or RefresherUAS, as in the 2xx
	WeRefresh bool   // we must send the refreshes on this leg
}

// RefreshAfter is when the refresher should refresh, counted from the 2xx:
// half the interval (RFC 4028 §10 recommends it).
func (t SessionTimer) RefreshAfter() time.Duration {
	return t.Interval / 2
}

// ExpireAfter is when the side that does not refresh must consider the
// session over and send a BYE, counted from the 2xx: the interval minus the
// lesser of 32 s and a third of the interval (RFC 4028 §10), so that the
// BYE leaves before the session has expired for the other side.
func (t SessionTimer) ExpireAfter() time.Duration {
	return t.Interval - min(32*time.Second, t.Interval/3)
}

// ErrIntervalTooSmall is returned by NegotiateUAS when the request's
// Session-Expires is below our Min-SE: the request must be answered 422
// Session Interval Too Small with a Min-SE header (RFC 4028 §9).
var ErrIntervalTooSmall = errors.New("session interval too small")

// uacSupportsTimer reports a UAC that listed "timer" in Supported (or
// Require, which implies it).
func uacSupportsTimer(req *gosip.Request) bool {
	return HasOptionTag(req, "Supported", ExtTimer) || HasOptionTag(req, "Require", ExtTimer)
}

// NegotiateUAS is the UAS side (RFC 4028 §9) for an INVITE or UPDATE we
// received and will answer 2xx: minSE is our own Min-SE. RFC 4028 §5
// puts its floor at MinSessionInterval; the floor is the configuration's
// business (a lab may go lower to test timers without waiting 45 s), so
// minSE is taken as given.
//
// With no Session-Expires in req, the result is inactive: RFC 4028 §9 lets
// the UAS ask for a timer in its 2xx, which a caller's INVITE gets only
// where the side's session_timer is on (ImposedUAS). Otherwise a value below minSE, or below the request's own Min-SE,
// gives an error wrapping ErrIntervalTooSmall (RFC 4028 §9: answer 422);
// else Interval is the request's value; Refresher is the request's
// refresher if given (RFC 4028 §9: the 2xx MUST then keep it), else
// RefresherUAC when the UAC lists "timer" in Supported (§9 lets the UAS
// pick either), else RefresherUAS (§9: a UAC without timer support cannot
// refresh); WeRefresh is Refresher == RefresherUAS. Malformed headers give
// an error wrapping the parse error (answer 400).
func NegotiateUAS(req *gosip.Request, minSE time.Duration) (SessionTimer, error) {
	se, ok, err := ParseSessionExpires(req)
	if err != nil {
		return SessionTimer{}, fmt.Errorf("session timer: %w", err)
	}
	if !ok {
		// A Min-SE alone asks for nothing, so it is not even parsed.
		return SessionTimer{}, nil
	}
	theirMin, hasMin, err := ParseMinSE(req)
	if err != nil {
		return SessionTimer{}, fmt.Errorf("session timer: %w", err)
	}
	floor := minSE
	if se.Interval < floor {
		return SessionTimer{}, fmt.Errorf("session timer: Session-Expires %s below our Min-SE %s: %w", seconds(se.Interval), seconds(floor), ErrIntervalTooSmall)
	}
	if hasMin && se.Interval < theirMin {
		return SessionTimer{}, fmt.Errorf("session timer: Session-Expires %s below the request's Min-SE %s: %w", seconds(se.Interval), seconds(theirMin), ErrIntervalTooSmall)
	}
	t := SessionTimer{Active: true, Interval: se.Interval, Refresher: se.Refresher}
	switch {
	case !uacSupportsTimer(req):
		// A UAC without Supported: timer cannot refresh, whatever its
		// Session-Expires (set by a proxy, or copied) says: we do (RFC
		// 4028 §9).
		t.Refresher = RefresherUAS
	case t.Refresher == "":
		t.Refresher = RefresherUAC
	}
	t.WeRefresh = t.Refresher == RefresherUAS
	return t, nil
}

// ImposedUAS is the timer we put in our 2xx to req, an initial INVITE
// without Session-Expires, when we want the session refreshed with
// interval: RFC 4028 §9 lets the UAS add Session-Expires to a 2xx whose
// request had none. The interval is not below the request's Min-SE (§9).
// The refresher is the UAC when it lists "timer" in Supported or Require
// (§9 lets the UAS pick either; a UAC that says it supports timers
// refreshes its own session, and AnswerHeaders adds the Require: timer §9
// makes mandatory then): a caller that then never refreshes has its
// session expire, as any peer refresher's. With a UAC that does not
// support timers the refresher MUST be uas, so we refresh with plain
// re-INVITEs or UPDATEs any UA answers, and AnswerHeaders adds no Require:
// timer (a UAS may not require what the UAC does not support, RFC 3261
// §8.2.2.3). Inactive for a request with Session-Expires: that is
// NegotiateUAS's.
func ImposedUAS(req *gosip.Request, interval time.Duration) SessionTimer {
	if _, ok, _ := ParseSessionExpires(req); ok {
		return SessionTimer{}
	}
	if theirs, ok, err := ParseMinSE(req); ok && err == nil && theirs > interval {
		interval = theirs
	}
	if uacSupportsTimer(req) {
		return SessionTimer{Active: true, Interval: interval, Refresher: RefresherUAC}
	}
	return SessionTimer{Active: true, Interval: interval, Refresher: RefresherUAS, WeRefresh: true}
}

// KeptFor is t, a timer the dialog already has, as it stands in our 2xx
// to req, a re-INVITE or UPDATE of the peer's in that dialog without a
// Session-Expires (the timer goes on: RFC 4028 §9 lets the UAS put one in
// its 2xx). Refresher is said as seen from req, whoever sent the request
// that set the timer up: uas when we refresh, uac when the peer does. A
// peer whose req does not list "timer" in Supported cannot be the
// refresher (RFC 4028 §9): we become it.
func (t SessionTimer) KeptFor(req *gosip.Request) SessionTimer {
	if !t.Active {
		return t
	}
	if !uacSupportsTimer(req) {
		t.WeRefresh = true
	}
	t.Refresher = RefresherUAC
	if t.WeRefresh {
		t.Refresher = RefresherUAS
	}
	return t
}

// AnswerHeaders are the headers of our 2xx for a negotiated UAS timer
// (RFC 4028 §9): Session-Expires with the refresher, and Require: timer
// when the UAC supports timer (§9 requires it when the refresher is the
// UAC; a UAS may only Require what the UAC supports). None when t is
// inactive. Supported is left to the caller.
func (t SessionTimer) AnswerHeaders(req *gosip.Request) []gosip.Header {
	if !t.Active {
		return nil
	}
	hs := []gosip.Header{SessionExpires{Interval: t.Interval, Refresher: t.Refresher}.Header()}
	if uacSupportsTimer(req) {
		hs = append(hs, OptionHeader("Require", ExtTimer))
	}
	return hs
}

// NegotiateUAC is the UAC side (RFC 4028 §7.2) from the 2xx to our INVITE
// or UPDATE; requested is the Session-Expires of our request (0 when we
// sent none).
//
// With Session-Expires in res the timer is active with its interval and
// refresher; WeRefresh is Refresher == RefresherUAC. RFC 4028 §9 makes the
// UAS always put a refresher in its 2xx and §7.2 says the UAC "MUST set the
// identity of the refresher to the value of this parameter"; for a 2xx
// that breaks §9 and names none, the refresher is taken to be RefresherUAC:
// §7.2's rule for a UAS that took on no refreshing is that the UAC performs
// them "as if ... with a refresher parameter of 'uac'", and a redundant
// refresh is harmless where a missing one drops the call.
//
// Without Session-Expires in res (or with a malformed one, which cannot be
// honoured) but with requested > 0, the UAS does not support timers: RFC
// 4028 §7.2 lets the UAC keep the timer for itself with the requested
// interval and refresher uac, so the timer is active with WeRefresh true.
// Otherwise it is inactive.
func NegotiateUAC(res *gosip.Response, requested time.Duration) SessionTimer {
	if se, ok, err := ParseSessionExpires(res); ok && err == nil {
		t := SessionTimer{Active: true, Interval: se.Interval, Refresher: se.Refresher}
		if t.Refresher == "" {
			t.Refresher = RefresherUAC
		}
		t.WeRefresh = t.Refresher == RefresherUAC
		return t
	}
	if requested > 0 {
		return SessionTimer{Active: true, Interval: requested, Refresher: RefresherUAC, WeRefresh: true}
	}
	return SessionTimer{}
}

// RequestHeaders are the headers of an INVITE or UPDATE we send asking for
// a timer (RFC 4028 §7.1): Session-Expires: interval;refresher=uac (we
// volunteer to refresh, which §7.1 allows, so a UAS without timer support
// changes nothing) and Min-SE when minSE > 0. Supported: timer is NOT
// included: the caller composes Supported.
func RequestHeaders(interval, minSE time.Duration) []gosip.Header {
	hs := []gosip.Header{SessionExpires{Interval: interval, Refresher: RefresherUAC}.Header()}
	if minSE > 0 {
		hs = append(hs, MinSEHeader(minSE))
	}
	return hs
}

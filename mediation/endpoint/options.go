package endpoint

import (
	"fmt"
	"strings"
	"time"

	mediationsip "github.com/mediation-emulator/mediation/sip"
)

// Defaults shared by both endpoints.
const (
	defaultDuration = time.Second
	// byeTimeout bounds a BYE we send, also during Close.
	byeTimeout = 2 * time.Second
	// cancelGrace is how long a call whose context ended waits for a first
	// provisional response, which it needs before it may send CANCEL.
	cancelGrace = 2 * time.Second
)

// normalize validates o and fills its defaults.
func (o CallOptions) normalize(defaultFrom, defaultTo string) (CallOptions, error) {
	if !o.Target.IsValid() || o.Target.Port() == 0 {
		return o, fmt.Errorf("call options: target %q is not IP:port", o.Target)
	}
	switch strings.ToLower(o.Transport) {
	case "", "udp":
		o.Transport = "udp"
	case "tcp":
		o.Transport = "tcp"
	default:
		return o, fmt.Errorf("call options: transport %q: want udp or tcp", o.Transport)
	}
	if o.From == "" {
		o.From = defaultFrom
	}
	if o.To == "" {
		o.To = defaultTo
	}
	for _, u := range []string{o.From, o.To} {
		if !validUser(u) {
			return o, fmt.Errorf("call options: %q is not a SIP user part", u)
		}
	}
	if o.Duration <= 0 {
		o.Duration = defaultDuration
	}
	if err := CheckDigits(o.DTMF); err != nil {
		return o, fmt.Errorf("call options: %w", err)
	}
	return o, nil
}

// validUser accepts RFC 3261 user parts made of unreserved and user-unreserved
// characters, so nothing a caller passes can break a header (CRLF injection).
func validUser(u string) bool {
	if u == "" {
		return false
	}
	for _, r := range u {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case strings.ContainsRune("-_.!~*'()&=+$,;?/%", r):
		default:
			return false
		}
	}
	return true
}

// validToken accepts a header or SDP attribute value on one line.
func validToken(s string) bool {
	return !strings.ContainsAny(s, "\r\n\x00")
}

// reason is the reason phrase of a final code an endpoint sends.
func reason(code int) string {
	if r := mediationsip.ReasonPhrase(code); r != "" {
		return r
	}
	return "Rejected"
}

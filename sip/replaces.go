package sip

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	gosip "github.com/emiago/sipgo/sip"
)

// Replaces is a Replaces header (RFC 3891 §6.1): the dialog a new INVITE
// is to replace, matched by its recipient with ToTag as its local tag and
// FromTag as the remote one (§3).
type Replaces struct {
	CallID, ToTag, FromTag string
	// EarlyOnly is the early-only flag: replace only an early dialog.
	EarlyOnly bool
}

// Errors of ReplacesOfReferTo besides a bad Replaces.
var (
	// ErrNoReplaces says a Refer-To's URI carries no Replaces header.
	ErrNoReplaces = errors.New("no Replaces in the Refer-To URI")
	// ErrBadReferTo says the Refer-To value itself cannot be parsed.
	ErrBadReferTo = errors.New("Refer-To cannot be parsed")
)

// ReplacesOfReferTo is the Replaces carried, URI-escaped, among the
// headers of the URI of a Refer-To value (RFC 3891 §5: an attended
// transfer); ErrNoReplaces when there is none.
func ReplacesOfReferTo(value string) (Replaces, error) {
	var u gosip.Uri
	var params gosip.HeaderParams
	if _, err := gosip.ParseAddressValue(value, &u, &params); err != nil {
		return Replaces{}, fmt.Errorf("%w: %w", ErrBadReferTo, err)
	}
	for _, kv := range u.Headers {
		if strings.EqualFold(kv.K, "Replaces") {
			v, err := url.PathUnescape(kv.V)
			if err != nil {
				return Replaces{}, fmt.Errorf("Replaces in the Refer-To URI: %w", err)
			}
			return ParseReplaces(v)
		}
	}
	return Replaces{}, ErrNoReplaces
}

// ParseReplaces reads a Replaces header value: a Call-ID, then to-tag and
// from-tag (both required), early-only, and other parameters, ignored.
func ParseReplaces(v string) (Replaces, error) {
	parts := strings.Split(v, ";")
	r := Replaces{CallID: strings.TrimSpace(parts[0])}
	for _, p := range parts[1:] {
		name, val, _ := strings.Cut(p, "=")
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "to-tag":
			r.ToTag = strings.TrimSpace(val)
		case "from-tag":
			r.FromTag = strings.TrimSpace(val)
		case "early-only":
			r.EarlyOnly = true
		}
	}
	switch {
	case r.CallID == "":
		return r, fmt.Errorf("Replaces %q: no Call-ID", v)
	case r.ToTag == "" || r.FromTag == "":
		return r, fmt.Errorf("Replaces %q: to-tag and from-tag are required", v)
	}
	if err := CheckHeaderValue(v); err != nil {
		return r, fmt.Errorf("Replaces %q: %w", v, err)
	}
	return r, nil
}

// String is the header value.
func (r Replaces) String() string {
	s := r.CallID + ";to-tag=" + r.ToTag + ";from-tag=" + r.FromTag
	if r.EarlyOnly {
		s += ";early-only"
	}
	return s
}

// URIHeader is the value as a URI header's (RFC 3261 §19.1.1: ";", "=",
// "@" and the like escaped), for a Refer-To's "?Replaces=".
func (r Replaces) URIHeader() string {
	var b strings.Builder
	for _, c := range []byte(r.String()) {
		if c < 0x80 && (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-_.!~*'()", c) >= 0) {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

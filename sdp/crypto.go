// Crypto: SDES keying (RFC 4568 a=crypto), as Skype for Business sends it.

package sdp

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// SRTP crypto suites the mediation server can terminate.
const (
	SuiteAES80 = "AES_CM_128_HMAC_SHA1_80"
	SuiteAES32 = "AES_CM_128_HMAC_SHA1_32"
)

// masterLen is an AES-128 master key (16 bytes) and salt (14 bytes).
const masterLen = 30

// ErrBadCrypto means an a=crypto line the mediation server cannot use.
var ErrBadCrypto = errors.New("unusable a=crypto")

// Crypto is one a=crypto line: "<tag> <suite> inline:<key||salt>[|<lifetime>][|<MKI>:<length>]".
// SfB sends "|2^31|1:1": lifetime 2^31 packets, MKI 1 in one byte.
type Crypto struct {
	Tag      int
	Suite    string
	Master   []byte // key||salt, 30 bytes
	Lifetime string // kept as written ("2^31"), "" if absent
	// MKI is the master key identifier as sent on the wire (MKILength
	// bytes, big-endian), nil when the line has none.
	MKI []byte
}

// ParseCrypto reads the value of an a=crypto attribute. Suites other than
// AES_CM_128_HMAC_SHA1_80/32 and session parameters are refused.
func ParseCrypto(v string) (Crypto, error) {
	f := strings.Fields(v)
	if len(f) < 3 {
		return Crypto{}, fmt.Errorf("%w: %q", ErrBadCrypto, v)
	}
	if len(f) > 3 {
		return Crypto{}, fmt.Errorf("%w: session parameters %q not supported", ErrBadCrypto, strings.Join(f[3:], " "))
	}
	tag, err := strconv.Atoi(f[0])
	if err != nil || tag < 0 || tag > 999999999 {
		return Crypto{}, fmt.Errorf("%w: tag %q", ErrBadCrypto, f[0])
	}
	c := Crypto{Tag: tag, Suite: strings.ToUpper(f[1])}
	if c.Suite != SuiteAES80 && c.Suite != SuiteAES32 {
		return Crypto{}, fmt.Errorf("%w: suite %s", ErrBadCrypto, f[1])
	}
	params, ok := strings.CutPrefix(f[2], "inline:")
	if !ok {
		return Crypto{}, fmt.Errorf("%w: key method in %q", ErrBadCrypto, f[2])
	}
	parts := strings.Split(params, "|")
	if len(parts) > 3 {
		return Crypto{}, fmt.Errorf("%w: key parameters %q", ErrBadCrypto, params)
	}
	if c.Master, err = base64.StdEncoding.DecodeString(parts[0]); err != nil || len(c.Master) != masterLen {
		return Crypto{}, fmt.Errorf("%w: key is not %d bytes of base64", ErrBadCrypto, masterLen)
	}
	for _, p := range parts[1:] {
		if mki, length, isMKI := strings.Cut(p, ":"); isMKI {
			if c.MKI, err = mkiBytes(mki, length); err != nil {
				return Crypto{}, err
			}
			continue
		}
		if !lifetimeOK(p) {
			return Crypto{}, fmt.Errorf("%w: key lifetime %q (at most 2^48 packets, RFC 4568 §6.2.1)", ErrBadCrypto, p)
		}
		c.Lifetime = p
	}
	return c, nil
}

// lifetimeOK reports a key lifetime RFC 4568 §6.1 allows for the AES_CM
// suites: "2^N" or a decimal number of packets, at most 2^48 (§6.2.1).
func lifetimeOK(v string) bool {
	if exp, ok := strings.CutPrefix(v, "2^"); ok {
		n, err := strconv.Atoi(exp)
		return err == nil && n >= 0 && n <= 48 && exp == strconv.Itoa(n)
	}
	n, err := strconv.ParseUint(v, 10, 64)
	return err == nil && n >= 1 && n <= 1<<48
}

// mkiBytes turns "1:1" into the MKI as it travels in each packet.
func mkiBytes(value, length string) ([]byte, error) {
	v, err1 := strconv.ParseUint(value, 10, 64)
	n, err2 := strconv.Atoi(length)
	if err1 != nil || err2 != nil || n < 1 || n > 8 || (n < 8 && v >= 1<<(8*n)) {
		return nil, fmt.Errorf("%w: MKI %s:%s", ErrBadCrypto, value, length)
	}
	b := make([]byte, n)
	for i := n - 1; i >= 0; i-- {
		b[i] = byte(v)
		v >>= 8
	}
	return b, nil
}

// String renders the attribute value.
func (c Crypto) String() string {
	return string(c.appendTo(make([]byte, 0, 96)))
}

// appendTo writes the attribute value.
func (c Crypto) appendTo(b []byte) []byte {
	b = strconv.AppendInt(b, int64(c.Tag), 10)
	b = append(b, ' ')
	b = append(b, c.Suite...)
	b = append(b, " inline:"...)
	b = base64.StdEncoding.AppendEncode(b, c.Master)
	if c.Lifetime != "" {
		b = append(b, '|')
		b = append(b, c.Lifetime...)
	}
	if len(c.MKI) > 0 {
		var v uint64
		for _, x := range c.MKI {
			v = v<<8 | uint64(x)
		}
		b = append(b, '|')
		b = strconv.AppendUint(b, v, 10)
		b = append(b, ':')
		b = strconv.AppendInt(b, int64(len(c.MKI)), 10)
	}
	return b
}

// NewCrypto makes our own keying for an answer to offered: same tag,
// suite and MKI length (MKI value 1), a fresh random master key.
func NewCrypto(offered Crypto) (Crypto, error) {
	c := Crypto{Tag: offered.Tag, Suite: offered.Suite, Master: make([]byte, masterLen), Lifetime: offered.Lifetime}
	if _, err := rand.Read(c.Master); err != nil {
		return Crypto{}, fmt.Errorf("srtp key: %w", err)
	}
	if len(offered.MKI) > 0 {
		c.MKI = make([]byte, len(offered.MKI))
		c.MKI[len(c.MKI)-1] = 1
	}
	return c, nil
}

// SRTP returns the usable a=crypto lines of the offer, in order; lines the
// server cannot use (other suites, bad keys) are skipped.
func (m Media) SRTP() []Crypto {
	var out []Crypto
	for _, v := range m.Crypto {
		if c, err := ParseCrypto(v); err == nil {
			out = append(out, c)
		}
	}
	return out
}

// RequiresSRTP reports an offer that only accepts SRTP (RTP/SAVP, or
// RTP/SAVPF, its feedback variant: RFC 5124); SfB's RTP/AVP offers with
// a=crypto lines make SRTP optional.
func (m Media) RequiresSRTP() bool { return strings.Contains(strings.ToUpper(m.Proto), "SAVP") }

// Feedback reports an m-line in a feedback profile of RFC 4585 (RTP/AVPF)
// or RFC 5124 (RTP/SAVPF), which an answer keeps (Description.AVPF).
func (m Media) Feedback() bool {
	p := m.Proto
	return len(p) >= 4 && strings.EqualFold(p[len(p)-4:], "AVPF")
}

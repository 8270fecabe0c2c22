package sip

import (
	"bytes"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"

	gosip "github.com/emiago/sipgo/sip"
)

// Trust is the list of sources a side takes requests from: the gateway
// side's trunks, the edge side's peers. Anything else is dropped or
// refused with 403 on the reading goroutine, before a transaction, dialog
// or call exists: a stranger costs one parse and one counter. The list can
// be replaced while the side runs.
type Trust struct {
	prefixes atomic.Pointer[[]netip.Prefix]
	// RejectUDP and RejectTCP (TCP and TLS) answer untrusted requests 403 Forbidden
	// instead of dropping them. Over UDP, dropping is the safe default: the
	// source of a datagram can be spoofed, and answering would aim our
	// responses at whoever the attacker names.
	RejectUDP, RejectTCP bool

	// pins are IPs trusted while something holds them (Pin): a trunk's
	// former address while a call set up with it goes on, after its host
	// name moved. npins is len(pins), read without the lock.
	pinMu sync.RWMutex
	pins  map[netip.Addr]int
	npins atomic.Int32
}

// NewTrust trusts the given prefixes (IPv4-mapped IPv6 sources are
// compared as IPv4).
func NewTrust(prefixes []netip.Prefix) *Trust {
	t := &Trust{}
	t.Set(prefixes)
	return t
}

// Set replaces the trusted prefixes.
func (t *Trust) Set(prefixes []netip.Prefix) {
	ps := make([]netip.Prefix, 0, len(prefixes))
	for _, p := range prefixes {
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0))
		}
		ps = append(ps, p.Masked())
	}
	t.prefixes.Store(&ps)
}

// Allows reports whether requests from ip are taken.
func (t *Trust) Allows(ip netip.Addr) bool {
	if t == nil {
		return true
	}
	ip = ip.Unmap()
	for _, p := range *t.prefixes.Load() {
		if p.Contains(ip) {
			return true
		}
	}
	if t.npins.Load() == 0 {
		return false
	}
	t.pinMu.RLock()
	defer t.pinMu.RUnlock()
	return t.pins[ip] > 0
}

// Pin trusts ip until as many Unpin calls, whatever Set says meanwhile:
// a dialog with a peer goes on after the peer's address left the list (a
// trunk's host name now resolves elsewhere), and its responses and
// requests must still come in.
func (t *Trust) Pin(ip netip.Addr) {
	if t == nil || !ip.IsValid() {
		return
	}
	ip = ip.Unmap()
	t.pinMu.Lock()
	defer t.pinMu.Unlock()
	if t.pins == nil {
		t.pins = map[netip.Addr]int{}
	}
	t.pins[ip]++
	t.npins.Store(int32(len(t.pins)))
}

// Unpin releases one Pin of ip.
func (t *Trust) Unpin(ip netip.Addr) {
	if t == nil || !ip.IsValid() {
		return
	}
	ip = ip.Unmap()
	t.pinMu.Lock()
	defer t.pinMu.Unlock()
	if t.pins[ip] <= 1 {
		delete(t.pins, ip)
	} else {
		t.pins[ip]--
	}
	t.npins.Store(int32(len(t.pins)))
}

// trusted reports whether a message from remote (IP:PORT) may be handled.
// With no trust list every source is.
func (s *Side) trusted(remote string) bool {
	if s.trust == nil {
		return true
	}
	ap, err := netip.ParseAddrPort(remote)
	return err == nil && s.trust.Allows(ap.Addr())
}

// dropUntrustedDatagram takes a UDP read from an untrusted source (the
// caller has decided that: there is a trust list) before it is parsed, when
// such requests are dropped anyway: a flood of them costs nothing but the
// counter. false: it is to be parsed and refused (403).
func (s *Side) dropUntrustedDatagram(remote string, data []byte) bool {
	if bytes.HasPrefix(data, []byte("SIP/")) {
		// A response (a status line), never answered: dropped and told
		// apart from a stranger's requests.
		s.untrustedResponse(remote)
		return true
	}
	if s.trust.RejectUDP {
		return false
	}
	s.untrusted(remote, "udp", "")
	return true
}

// untrustedResponse counts and logs (rate-limited) a response from an
// untrusted source, dropped.
func (s *Side) untrustedResponse(remote string) {
	s.stats.UntrustedResponses.Add(1)
	if ok, dropped := s.limit.Allow(); ok {
		s.log.Warn().Str("remote", remote).Int("suppressed", dropped).Msg("response from an untrusted source dropped")
	}
}

// admit lets a parsed message through, or drops or refuses it: requests
// (and responses, which could only be forged) from untrusted sources go no
// further. trusted is the read's trust, decided once (read).
func (s *Side) admit(msg gosip.Message, trusted bool) bool {
	if trusted {
		return true
	}
	remote := msg.Source()
	req, isReq := msg.(*gosip.Request)
	if !isReq {
		s.untrustedResponse(remote)
		return false
	}
	transport := strings.ToLower(msg.Transport())
	s.untrusted(remote, transport, req.Method.String())
	reject := s.trust.RejectUDP
	if transport != "udp" {
		reject = s.trust.RejectTCP
	}
	if reject && !req.IsAck() {
		res := newResponse(req, 403, "Forbidden", "", nil)
		res.AppendHeader(gosip.NewHeader("Server", s.ua))
		res.SetDestination(responseDestination(req))
		if err := s.WriteResponse(res); err != nil {
			s.log.Debug().Err(err).Msg("403 to an untrusted source not sent")
		}
	}
	return false
}

// untrusted counts and logs (rate-limited) a request from an untrusted
// source; method is "" when it was dropped unparsed.
func (s *Side) untrusted(remote, transport, method string) {
	s.stats.Untrusted.Add(1)
	if ok, dropped := s.untrustedLog.Allow(); ok {
		ev := s.log.Warn().Str("remote", remote).Str("transport", transport).Int("suppressed", dropped)
		if method != "" {
			ev = ev.Str("method", method)
		}
		ev.Msg("request from an untrusted source refused")
	}
}

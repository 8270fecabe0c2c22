package relay

// This file is the SRTP stage: SDES keys of a leg turned into pion/srtp
// contexts, and the decrypt and encrypt steps of the per-packet chain.

import (
	"bytes"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
)

// The SDES crypto-suites a leg may use (RFC 4568 names).
const (
	ProfileAES128SHA1_80 = "AES_CM_128_HMAC_SHA1_80"
	ProfileAES128SHA1_32 = "AES_CM_128_HMAC_SHA1_32"
)

const (
	// The master key and salt lengths of the AES-128 suites.
	masterKeyLen  = 16
	masterSaltLen = 14
	// maxMKILen is RFC 4568's upper bound on the MKI length (1-128 bytes).
	maxMKILen = 128
	// replayWindow is the replay-protection window of inbound contexts, in
	// packets: large enough for any reordering a voice stream sees.
	replayWindow = 64
	// srtpHeadroom is what SRTP/SRTCP may add to a packet: the SRTCP index
	// (4), the MKI and the longest authentication tag (10).
	srtpHeadroom = 4 + maxMKILen + 10
)

// SRTP is the SDES keying of one leg (RFC 4568 a=crypto). Recv decrypts what
// the peer sends: the peer's a=crypto key. Send encrypts what we send: our
// a=crypto key. Both directions use Profile.
type SRTP struct {
	// Profile is the crypto-suite: ProfileAES128SHA1_80 or ProfileAES128SHA1_32.
	Profile string
	// Recv and Send are the master keys of each direction.
	Recv, Send Keying
}

// Keying is one direction's master key.
type Keying struct {
	// Master is the master key followed by the master salt: 16+14 = 30 bytes
	// for the AES-128 suites (the decoded inline: value of a=crypto).
	Master []byte
	// MKI is the master key identifier carried in every packet, nil for none.
	// SfB sends "|2^31|1:1": MKI value 1 in 1 byte, so []byte{1}.
	MKI []byte
}

// srtpContexts are the four contexts of one leg. pion contexts are stateful
// (rollover counters, replay windows) and not safe for concurrent use, so
// each belongs to one goroutine: rtpIn to the leg's RTP reader, rtpOut to the
// other side's RTP reader (which sends towards this leg), rtcpIn to the leg's
// RTCP reader, and rtcpOut to the session's reporter.
type srtpContexts struct {
	cfg                            SRTP
	rtpIn, rtpOut, rtcpIn, rtcpOut *srtp.Context
	// rtpPrev and rtcpPrev decrypt under the peer's previous key, once a
	// re-offer has changed it, until graceEnd: a peer that offers a new
	// key keeps sending under its old one until it has our answer (RFC
	// 4568 §7.1.4), and its packets sent meanwhile reach us after we
	// switched. Each belongs to the goroutine of rtpIn or rtcpIn, which
	// drops it at the first packet that authenticates under the new key,
	// or at graceEnd. nil: no key change in progress.
	rtpPrev, rtcpPrev *srtp.Context
	graceEnd          time.Time
	// prior are the contexts these replaced when the receive key changed,
	// whose rtpIn (or, through prior's prior, an earlier one's) knows the
	// rollover counter of the peer's SSRC: rtpIn starts from it
	// (seededRTP). The RTP reader drops it at the first packet that
	// authenticates under rtpIn; contexts built later that keep rtpIn
	// take it over. nil: nothing to carry on. Atomic: those are built
	// while the reader runs. The contexts it points to are read by the
	// reader only.
	prior atomic.Pointer[srtpContexts]
}

// rekeyGrace is how long a peer's previous receive key stays accepted
// after its new one is installed, at most: our 2xx and, over UDP, its
// retransmissions (sent 0.5, 1.5 and 3.5 s after it with the default T1)
// plus the peer's processing. The first packet under the new key ends it
// sooner.
const rekeyGrace = 5 * time.Second

// contextsFor builds the contexts of cfg (nil cfg: plain RTP). The
// contexts of a direction whose key and suite are those of prev's are
// prev's, so that its rollover counters, replay window and SRTCP index go
// on: a peer that keeps its key across a re-offer goes on decrypting ours
// (and new contexts under the same key would repeat key stream). When the
// receive key changed, the previous one is kept for the grace
// (srtpContexts.rtpPrev).
func contextsFor(cfg *SRTP, prev *peer) (*srtpContexts, error) {
	if cfg == nil {
		return nil, nil
	}
	var old *srtpContexts
	if prev != nil {
		old = prev.srtp
	}
	if old != nil && sameKeys(old.cfg, *cfg) {
		return old, nil
	}
	profile, err := profileOf(cfg.Profile)
	if err != nil {
		return nil, err
	}
	c := &srtpContexts{cfg: SRTP{Profile: cfg.Profile, Recv: cloneKeying(cfg.Recv), Send: cloneKeying(cfg.Send)}}
	in, out := c.cfg.Recv, c.cfg.Send
	sameSuite := old != nil && old.cfg.Profile == cfg.Profile
	if sameSuite && sameKeying(old.cfg.Recv, in) {
		c.rtpIn, c.rtcpIn = old.rtpIn, old.rtcpIn
		// A change of our key alone, before the peer's packets under its
		// new one came, leaves their rollover counter to carry on.
		c.prior.Store(old.prior.Load())
	} else {
		if c.rtpIn, err = newContext(profile, in, srtp.SRTPReplayProtection(replayWindow)); err != nil {
			return nil, fmt.Errorf("srtp receive key: %w", err)
		}
		if c.rtcpIn, err = newContext(profile, in, srtp.SRTCPReplayProtection(replayWindow)); err != nil {
			return nil, fmt.Errorf("srtp receive key: %w", err)
		}
		if old != nil {
			c.rtpPrev, c.rtcpPrev, c.graceEnd = old.rtpIn, old.rtcpIn, time.Now().Add(rekeyGrace)
			// old.rtpIn is its reader's until then: its rollover
			// counters are read there, at the first packet under the
			// new key (seededRTP), not here.
			c.prior.Store(old)
		}
	}
	if sameSuite && sameKeying(old.cfg.Send, out) {
		c.rtpOut, c.rtcpOut = old.rtpOut, old.rtcpOut
		return c, nil
	}
	if c.rtpOut, err = newContext(profile, out); err != nil {
		return nil, fmt.Errorf("srtp send key: %w", err)
	}
	if c.rtcpOut, err = newContext(profile, out); err != nil {
		return nil, fmt.Errorf("srtp send key: %w", err)
	}
	return c, nil
}

// inheriting is c with the receive contexts of old, contexts of the same
// suite no goroutine uses any more (Session.Inherit): taken as they are
// under the same receive key, else the previous ones of new contexts, for
// their rollover counters and the grace. c's send contexts are kept. Only
// the fields fixed at construction are read from c: the others are its
// reader's.
func (c *srtpContexts) inheriting(old *srtpContexts) *srtpContexts {
	n := &srtpContexts{cfg: c.cfg, rtpIn: c.rtpIn, rtcpIn: c.rtcpIn, rtpOut: c.rtpOut, rtcpOut: c.rtcpOut}
	if sameKeying(old.cfg.Recv, c.cfg.Recv) {
		n.rtpIn, n.rtcpIn = old.rtpIn, old.rtcpIn
		n.prior.Store(old.prior.Load())
		return n
	}
	// c's receive contexts may have taken a stray packet meanwhile; the
	// peer's stream is new to them either way.
	n.rtpPrev, n.rtcpPrev, n.graceEnd = old.rtpIn, old.rtcpIn, time.Now().Add(rekeyGrace)
	n.prior.Store(old)
	return n
}

func profileOf(name string) (srtp.ProtectionProfile, error) {
	switch name {
	case ProfileAES128SHA1_80:
		return srtp.ProtectionProfileAes128CmHmacSha1_80, nil
	case ProfileAES128SHA1_32:
		return srtp.ProtectionProfileAes128CmHmacSha1_32, nil
	default:
		return 0, fmt.Errorf("unsupported SRTP profile %q", name)
	}
}

// newContext checks k and builds a context. pion reads the MKI length of
// received packets from the context's own MKI, so inbound contexts need
// MasterKeyIndicator too: with it they accept only packets carrying that MKI.
func newContext(profile srtp.ProtectionProfile, k Keying, opts ...srtp.ContextOption) (*srtp.Context, error) {
	if len(k.Master) != masterKeyLen+masterSaltLen {
		return nil, fmt.Errorf("master key and salt are %d bytes, want %d", len(k.Master), masterKeyLen+masterSaltLen)
	}
	if len(k.MKI) > maxMKILen {
		return nil, fmt.Errorf("MKI of %d bytes, at most %d allowed", len(k.MKI), maxMKILen)
	}
	if len(k.MKI) > 0 {
		opts = append(opts, srtp.MasterKeyIndicator(k.MKI))
	}
	return srtp.CreateContext(k.Master[:masterKeyLen], k.Master[masterKeyLen:], profile, opts...)
}

func sameKeys(a, b SRTP) bool {
	return a.Profile == b.Profile && sameKeying(a.Recv, b.Recv) && sameKeying(a.Send, b.Send)
}

func sameKeying(a, b Keying) bool {
	return bytes.Equal(a.Master, b.Master) && bytes.Equal(a.MKI, b.MKI)
}

// cloneKeying copies k so that a caller reusing its slices cannot change the
// keys of a running leg.
func cloneKeying(k Keying) Keying {
	return Keying{Master: bytes.Clone(k.Master), MKI: bytes.Clone(k.MKI)}
}

// errNoRoom means a buffer lacks the headroom SRTP needs; it is a
// programming error, reported instead of letting pion allocate.
var errNoRoom = errors.New("srtp: no headroom in the output buffer")

// decryptRTP is the decrypt stage: it authenticates and decrypts datagram in
// place (checking the replay window) and returns the plain RTP packet, a
// prefix of datagram. Called by the leg's RTP reader only.
func (c *srtpContexts) decryptRTP(datagram []byte, hdr *rtp.Header) ([]byte, error) {
	if c.rtpPrev == nil && c.prior.Load() == nil {
		return c.rtpIn.DecryptRTP(datagram, datagram, hdr)
	}
	return c.graceRTP(datagram, hdr)
}

// graceRTP is decryptRTP after a change of the peer's key, until the
// first packet under the new one. The previous key is tried first while
// it is accepted: until the peer has our answer its packets come under
// it. A failed try leaves datagram and the context as they were (pion
// authenticates before it decrypts or moves the replay window).
func (c *srtpContexts) graceRTP(datagram []byte, hdr *rtp.Header) ([]byte, error) {
	if prev := c.previous(&c.rtpPrev); prev != nil {
		if plain, err := prev.DecryptRTP(datagram, datagram, hdr); err == nil {
			return plain, nil
		}
	}
	var plain []byte
	var err error
	if prior := c.prior.Load(); prior != nil {
		plain, err = c.seededRTP(prior, datagram, hdr)
	} else {
		plain, err = c.rtpIn.DecryptRTP(datagram, datagram, hdr)
	}
	if err == nil {
		c.rtpPrev = nil // the peer has switched
		c.prior.Store(nil)
	}
	return plain, err
}

// seededRTP decrypts under rtpIn a packet of an SSRC the previous
// receive contexts knew, starting from their rollover counter (ROC).
//
// The ROC belongs to the stream's crypto context, not to its master key:
// RFC 3711 §3.2.1 says that after a re-keying it keeps its sequence of
// values and MUST NOT be reset to zero, and RFC 4568 (§6.4, §7.1.4)
// signals a new key in an offer/answer without any ROC, so a peer that
// keeps its SSRC and sequence numbers across its new a=crypto key goes on
// with its ROC. pion starts a new context at ROC 0 for every SSRC
// (RFC 3711 §3.3.1), which, past the first 65,536 packets of the stream
// (about 22 minutes at 50 packets/s), fails every packet after the re-key.
// The candidates, each tried until one authenticates (a failed try
// changes nothing, see graceRTP): the previous context's ROC; one more,
// for a sequence number that wrapped between the last packet under the
// old key and this one; and 0, for a peer that restarted its ROC on the
// same SSRC with its new key, as a new context of its would. A new SSRC,
// unknown to the previous contexts, starts at 0 as any stream does. The
// ROC can only be read here: the previous contexts were their reader's,
// this same goroutine's, until the new ones were published.
func (c *srtpContexts) seededRTP(prior *srtpContexts, datagram []byte, hdr *rtp.Header) ([]byte, error) {
	if _, err := hdr.Unmarshal(datagram); err != nil {
		return nil, err
	}
	ssrc := hdr.SSRC
	roc, ok := uint32(0), false
	for p := prior; p != nil && !ok; p = p.prior.Load() {
		if p.prior.Load() != nil {
			// Never authenticated a packet: any state it has for
			// ssrc is a failed seeding's guess, not the stream's.
			continue
		}
		roc, ok = p.rtpIn.ROC(ssrc)
	}
	if !ok {
		return c.rtpIn.DecryptRTP(datagram, datagram, hdr)
	}
	var err error
	for i, try := range [...]uint32{roc, roc + 1, 0} {
		if i == 2 && (roc == 0 || roc+1 == 0) {
			break // 0 was tried already
		}
		c.rtpIn.SetROC(ssrc, try)
		var plain []byte
		if plain, err = c.rtpIn.DecryptRTP(datagram, datagram, hdr); err == nil {
			return plain, nil
		}
	}
	return nil, err
}

// encryptRTP is the encrypt stage: it encrypts the plain packet pkt in place
// and returns the SRTP packet, which extends pkt into its spare capacity.
func encryptRTP(ctx *srtp.Context, pkt []byte, hdr *rtp.Header) ([]byte, error) {
	if cap(pkt)-len(pkt) < srtpHeadroom {
		return nil, errNoRoom
	}
	return ctx.EncryptRTP(pkt, pkt, hdr)
}

// previous is *prev, the context of the peer's previous key (rtpPrev or
// rtcpPrev, of the calling reader), while the grace lasts; after it, nil,
// and *prev is dropped.
func (c *srtpContexts) previous(prev **srtp.Context) *srtp.Context {
	if *prev != nil && !time.Now().Before(c.graceEnd) {
		*prev = nil
	}
	return *prev
}

// decryptRTCP authenticates and decrypts an SRTCP datagram in place, under
// the peer's previous key too during a key change's grace (graceRTP).
// Called by the leg's RTCP reader only.
func (c *srtpContexts) decryptRTCP(datagram []byte) ([]byte, error) {
	if prev := c.previous(&c.rtcpPrev); prev != nil {
		if plain, err := prev.DecryptRTCP(datagram, datagram, nil); err == nil {
			return plain, nil
		}
	}
	plain, err := c.rtcpIn.DecryptRTCP(datagram, datagram, nil)
	if err == nil && c.rtcpPrev != nil {
		c.rtcpPrev = nil
	}
	return plain, err
}

// encryptRTCP encrypts a compound RTCP packet in place into its spare
// capacity.
func encryptRTCP(ctx *srtp.Context, pkt []byte) ([]byte, error) {
	if cap(pkt)-len(pkt) < srtpHeadroom {
		return nil, errNoRoom
	}
	return ctx.EncryptRTCP(pkt, pkt, nil)
}

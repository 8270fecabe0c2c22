package relay

// This file is the SRTP stage: SDES keys of a leg turned into pion/srtp
// contexts, and the decrypt and encrypt steps of the per-packet chain.

import (
	"bytes"
	"errors"
	"fmt"

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
}

// contextsFor builds the contexts of cfg, or returns prev's when its keys are
// the same (nil cfg: plain RTP).
func contextsFor(cfg *SRTP, prev *peer) (*srtpContexts, error) {
	if cfg == nil {
		return nil, nil
	}
	if prev != nil && prev.srtp != nil && sameKeys(prev.srtp.cfg, *cfg) {
		return prev.srtp, nil
	}
	profile, err := profileOf(cfg.Profile)
	if err != nil {
		return nil, err
	}
	c := &srtpContexts{cfg: SRTP{Profile: cfg.Profile, Recv: cloneKeying(cfg.Recv), Send: cloneKeying(cfg.Send)}}
	in, out := c.cfg.Recv, c.cfg.Send
	if c.rtpIn, err = newContext(profile, in, srtp.SRTPReplayProtection(replayWindow)); err != nil {
		return nil, fmt.Errorf("srtp receive key: %w", err)
	}
	if c.rtcpIn, err = newContext(profile, in, srtp.SRTCPReplayProtection(replayWindow)); err != nil {
		return nil, fmt.Errorf("srtp receive key: %w", err)
	}
	if c.rtpOut, err = newContext(profile, out); err != nil {
		return nil, fmt.Errorf("srtp send key: %w", err)
	}
	if c.rtcpOut, err = newContext(profile, out); err != nil {
		return nil, fmt.Errorf("srtp send key: %w", err)
	}
	return c, nil
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
	return a.Profile == b.Profile &&
		bytes.Equal(a.Recv.Master, b.Recv.Master) && bytes.Equal(a.Recv.MKI, b.Recv.MKI) &&
		bytes.Equal(a.Send.Master, b.Send.Master) && bytes.Equal(a.Send.MKI, b.Send.MKI)
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
// prefix of datagram.
func decryptRTP(ctx *srtp.Context, datagram []byte, hdr *rtp.Header) ([]byte, error) {
	return ctx.DecryptRTP(datagram, datagram, hdr)
}

// encryptRTP is the encrypt stage: it encrypts the plain packet pkt in place
// and returns the SRTP packet, which extends pkt into its spare capacity.
func encryptRTP(ctx *srtp.Context, pkt []byte, hdr *rtp.Header) ([]byte, error) {
	if cap(pkt)-len(pkt) < srtpHeadroom {
		return nil, errNoRoom
	}
	return ctx.EncryptRTP(pkt, pkt, hdr)
}

// decryptRTCP authenticates and decrypts an SRTCP datagram in place.
func decryptRTCP(ctx *srtp.Context, datagram []byte) ([]byte, error) {
	return ctx.DecryptRTCP(datagram, datagram, nil)
}

// encryptRTCP encrypts a compound RTCP packet in place into its spare
// capacity.
func encryptRTCP(ctx *srtp.Context, pkt []byte) ([]byte, error) {
	if cap(pkt)-len(pkt) < srtpHeadroom {
		return nil, errNoRoom
	}
	return ctx.EncryptRTCP(pkt, pkt, nil)
}

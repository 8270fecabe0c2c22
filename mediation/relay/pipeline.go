package relay

// This file chains the per-packet stages of one direction (from one side's
// peer to the other's):
//
//	receive: SRTP decrypt -> parse
//	forward: classify -> rewrite -> transcode -> SRTP encrypt
//
// Latching, receive statistics and the sockets stay in the session (they are
// per leg, not per direction), so the chain runs without sockets in tests and
// benchmarks.

import (
	"time"

	"github.com/pion/rtp"
)

const (
	// maxPacket bounds one datagram: the largest UDP payload a 1,500-byte
	// MTU carries over IPv4. RTP audio packets are far smaller (G.711 at
	// 60 ms is 492 bytes); a larger datagram is dropped as malformed
	// (readBuffer). Every anchored call holds six buffers of about this
	// size, so it is not larger than it needs to be.
	maxPacket = 1472
	// rtpHeaderLen is the fixed RTP header, the only header we emit.
	rtpHeaderLen = 12
	rtpVersion   = 2
)

// pipeline holds the state and buffers of one direction, reused for every
// packet so the relay path does not allocate. Not safe for concurrent use:
// one reader goroutine owns it.
type pipeline struct {
	in     rtp.Packet    // parse target; Payload aliases the receive buffer
	at     time.Duration // when in arrived (session clock)
	srtpIn rtp.Header    // scratch header for the decrypt stage
	hdr    rtp.Header    // outgoing header
	encHdr rtp.Header    // scratch header for the encrypt stage
	rw     *rewriter
	tc     transcoder
	// payloadLen and audio describe the last forwarded packet, for the
	// sender report: its payload octets, and whether it was audio (an
	// event's timestamp is its start, useless to extrapolate our clock).
	payloadLen int
	audio      bool
	// dtmf is the event rendered as tones towards a leg without events,
	// toneTo that leg's peer while frames of the packet are due (dtmf.go).
	dtmf   dtmfState
	toneTo *peer
	// heard is the newest audio relayed, which the tone does not repeat.
	heard heardAudio
	// budget paces the tone frames at real time; toneSkipped counts the
	// event time (timestamp units) not rendered because it came faster.
	budget      toneBudget
	toneSkipped uint64
	// toneNoted: the first rendered event was logged; skipNoted: the
	// first skip was.
	toneNoted, skipNoted bool
	pcm                  [toneFrame]int16
	out                  [maxPacket + srtpHeadroom]byte
}

// readBuffer is a socket reader's buffer: one byte more than maxPacket, so
// that a datagram too large for it shows as a read that filled it
// (tooLarge) instead of arriving truncated.
func readBuffer() []byte { return make([]byte, maxPacket+1) }

// tooLarge reports whether a read of n bytes into a readBuffer was a
// datagram larger than maxPacket.
func tooLarge(n int) bool { return n > maxPacket }

func newPipeline(rw *rewriter) *pipeline {
	return &pipeline{rw: rw}
}

// process runs one received datagram, which arrived at now (session
// clock), through all stages: receive, then forward. The result aliases
// the pipeline's buffer and is valid until the next call.
func (p *pipeline) process(datagram []byte, from, to *peer, now time.Duration) ([]byte, DropReason) {
	if from == nil {
		return nil, DropNoPeer
	}
	if r := p.receive(datagram, from); r != dropNone {
		return nil, r
	}
	return p.forward(from, to, now)
}

// receive decrypts (for an SRTP leg) and parses datagram, received from
// from's peer, into p.in. datagram is decrypted in place.
func (p *pipeline) receive(datagram []byte, from *peer) DropReason {
	// The cheap checks come first so common garbage (STUN, keep-alives) is
	// rejected without pion building an error value.
	if len(datagram) < rtpHeaderLen || datagram[0]>>6 != rtpVersion {
		return notRTP(datagram)
	}
	if rtcpOnRTP(datagram, from) {
		return dropRTCPOnRTP
	}
	if from.srtp != nil {
		plain, err := from.srtp.decryptRTP(datagram, &p.srtpIn)
		if err != nil {
			return DropDecrypt
		}
		datagram = plain
	}
	if p.in.Unmarshal(datagram) != nil {
		return DropMalformed
	}
	return dropNone
}

// notRTP is why datagram, which is no RTP or RTCP version 2, is dropped:
// DropSTUN for a STUN message (a peer's ICE keep-alive), else
// DropMalformed.
func notRTP(datagram []byte) DropReason {
	if isSTUN(datagram) {
		return DropSTUN
	}
	return DropMalformed
}

// isSTUN reports whether datagram is a STUN message (RFC 8489 §5): at
// least its 20-byte header, the first two bits 0 (RFC 7983 §7: a first
// byte of 0-3), a length that is a multiple of 4 and the magic cookie
// 0x2112A442 at bytes 4-7. The first two bits alone tell it from RTP and
// RTCP, whose version is 2.
func isSTUN(datagram []byte) bool {
	return len(datagram) >= 20 && datagram[0]>>6 == 0 && datagram[3]&3 == 0 &&
		datagram[4] == 0x21 && datagram[5] == 0x12 && datagram[6] == 0xA4 && datagram[7] == 0x42
}

// rtcpOnRTP reports whether datagram, a version 2 packet from from's peer,
// is RTCP sent to our RTP port (an rtcp-mux peer): its second byte is an
// RTCP packet type of 192-223 (SR 200, RR 201, SDES, BYE, ..., RTPFB 205,
// PSFB 206, XR 207), which as RTP is the marker bit with a payload type of
// 64-95, and that payload type is not one the leg negotiated. RFC 5761 §4
// keeps 64-95 free of RTP only in sessions that multiplex RTCP, which ours
// never do, and RFC 3551 §3 lets dynamic bindings go there: a peer's
// telephone-event on 80 starts each digit with 208 (the marker bit with
// 80), which is its RTP. The byte is in the clear in SRTP and SRTCP alike.
func rtcpOnRTP(datagram []byte, from *peer) bool {
	b := datagram[1]
	if b < 192 || b > 223 {
		return false
	}
	_, negotiated := from.negotiated(b & 0x7f)
	return !negotiated
}

// forward turns the packet in p.in, which arrived at now (session clock),
// into the datagram for to's peer: the returned slice aliases the
// pipeline's buffer and is valid until the next call.
func (p *pipeline) forward(from, to *peer, now time.Duration) ([]byte, DropReason) {
	p.toneTo, p.at = nil, now
	r := classify(p.in.PayloadType, from, to)
	switch {
	case r.drop == DropUnknownPT:
		// Dropped on purpose (comfort noise, a codec not negotiated): our
		// stream runs on without a gap, or the peer would count it lost.
		p.rw.skip(&p.in.Header)
	case r.drop == DropNoPeer && to != nil:
		// Not sent to a peer on hold (Leg.NoSend, c=0.0.0.0): neither is
		// it lost, and our stream resumes with the marker bit.
		p.rw.pause(&p.in.Header)
	}
	if r.drop != dropNone {
		return nil, r.drop
	}
	if r.conv == convTone {
		return p.renderEvent(to, now)
	}
	_, p.audio = from.audio(p.in.PayloadType)
	if !p.audio && len(p.in.Payload) < eventLen {
		// An RFC 4733 event (the only other packet relayed) shorter than
		// its 4 bytes: relayed as is, it would reach the other peer's
		// DTMF detector; played as tones it is malformed too
		// (renderEvent).
		p.rw.skip(&p.in.Header)
		return nil, DropMalformed
	}
	if p.audio && p.dtmf.masks(p.in.SSRC, p.in.Timestamp) {
		p.rw.skip(&p.in.Header)
		return nil, dropAbsorbed
	}
	if p.rw.stale(&p.in.Header, now) {
		// A late packet of the stream the peer replaced: used (its
		// side's statistics have it), not relayed.
		return nil, dropAbsorbed
	}
	var span uint32
	if !p.audio {
		// An event (its length checked above) reached its start
		// timestamp plus its duration.
		e, _ := parseEvent(p.in.Payload)
		span = uint32(e.duration)
	}
	p.rw.rewrite(&p.in.Header, r.pt, span, &p.hdr, p.at)
	n, err := p.hdr.MarshalTo(p.out[:])
	if err != nil || n != rtpHeaderLen {
		// Cannot happen for the fixed header we build; treated as malformed
		// rather than trusted.
		return nil, DropMalformed
	}
	if len(p.in.Payload) > maxPacket-n {
		// Larger than any datagram the readers take in; a caller that
		// hands us one must not make the transcoder write past p.out.
		return nil, DropMalformed
	}
	p.payloadLen = p.tc.run(p.out[n:maxPacket], p.in.Payload, r.conv, p.in.SSRC)
	if p.audio {
		p.heard.note(p.in.SSRC, p.in.Timestamp, len(p.in.Payload))
	}
	return p.seal(to, n+p.payloadLen)
}

// seal is the packet of n bytes built in p.out, encrypted for an SRTP leg.
func (p *pipeline) seal(to *peer, n int) ([]byte, DropReason) {
	pkt := p.out[:n]
	if to.srtp != nil {
		var err error
		if pkt, err = encryptRTP(to.srtp.rtpOut, pkt, &p.encHdr); err != nil {
			return nil, DropSendFailed
		}
	}
	return pkt, dropNone
}

package relay

// This file chains the per-packet stages of one direction (from one side's
// peer to the other's): parse -> classify -> transcode -> rewrite -> marshal.
// Receiving and sending stay in the session so the chain runs without
// sockets in tests and benchmarks.

import (
	"github.com/pion/rtp"
)

const (
	// maxPacket bounds one datagram. RTP audio packets are far smaller; a
	// larger datagram is truncated by the read and then fails to parse or is
	// relayed short, which only a broken peer would cause.
	maxPacket = 2048
	// rtpHeaderLen is the fixed RTP header, the only header we emit.
	rtpHeaderLen = 12
	rtpVersion   = 2
)

// pipeline holds the state and buffers of one direction, reused for every
// packet so the relay path does not allocate. Not safe for concurrent use:
// one reader goroutine owns it.
type pipeline struct {
	in  rtp.Packet // parse target; Payload aliases the receive buffer
	hdr rtp.Header // outgoing header
	rw  *rewriter
	out [maxPacket]byte
}

func newPipeline(rw *rewriter) *pipeline {
	return &pipeline{rw: rw}
}

// process runs one received datagram through the stages and returns the
// datagram to send, which aliases the pipeline's buffer and is valid until
// the next call, or the reason it is dropped.
func (p *pipeline) process(datagram []byte, from, to *peer) ([]byte, dropReason) {
	if !parse(datagram, &p.in) {
		return nil, dropMalformed
	}
	r := classify(p.in.PayloadType, from, to)
	if r.drop != dropNone {
		return nil, r.drop
	}
	p.rw.rewrite(&p.in.Header, r.pt, &p.hdr)
	n, err := p.hdr.MarshalTo(p.out[:])
	if err != nil || n != rtpHeaderLen {
		// Cannot happen for the fixed header we build; treated as malformed
		// rather than trusted.
		return nil, dropMalformed
	}
	n += transcode(p.out[n:], p.in.Payload, r.table)
	return p.out[:n], dropNone
}

// parse is the parse stage: it accepts only RTP version 2 packets. The cheap
// checks come first so common garbage (STUN, keep-alives) is rejected
// without pion building an error value.
func parse(datagram []byte, pkt *rtp.Packet) bool {
	if len(datagram) < rtpHeaderLen || datagram[0]>>6 != rtpVersion {
		return false
	}
	return pkt.Unmarshal(datagram) == nil
}

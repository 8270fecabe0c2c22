package relay

// This file is the header-rewrite stage: each outgoing direction is one RTP
// stream of ours, with its own SSRC, sequence numbers and timestamps.

import (
	"time"

	"github.com/pion/rtp"
)

// defaultTSDelta is the timestamp step assumed before any is observed:
// 20 ms of 8 kHz audio, the G.711 packetisation every SfB client and SBC uses.
const defaultTSDelta = 160

// rewriter maps the headers of the packets received from one peer onto our
// own outgoing stream. Sequence numbers and timestamps keep the input's
// deltas (so the receiver's jitter buffer sees the sender's timing and loss),
// but start from our own random values, and when the peer restarts its stream
// (new SSRC) the output is re-based so it stays continuous: the receiving peer
// sees one stream for the whole call, whatever happens on the other leg.
//
// A rewriter is not safe for concurrent use; each direction's reader owns one.
type rewriter struct {
	ssrc uint32

	started   bool
	inSSRC    uint32
	seqOffset uint16
	tsOffset  uint32

	haveLast bool
	lastSeq  uint16 // highest sequence number sent since the last re-base
	lastTS   uint32 // timestamp sent with lastSeq
	// lastSpan is how far past lastTS the packet of lastSeq reached: an
	// RFC 4733 event's duration (its packets carry the event's start
	// timestamp, RFC 4733 §2.3), 0 for audio.
	lastSpan uint32
	tsDelta  uint32 // last positive timestamp step between consecutive packets
	// lastAt is when the input packet of lastSeq arrived (session clock).
	lastAt time.Duration
	// jumped: the next packet is the first after our own timestamp jump
	// to a new input stream, so it carries the marker bit.
	jumped bool

	firstSeq uint16
	firstTS  uint32

	// prevSSRC is the input stream the current one replaced (hadPrev),
	// prevTS the input timestamp its last packet relayed reached (an
	// event's end), at prevAt; backSeq is the sequence number of a late
	// packet of it seen since (backPending), backRun how many came in
	// sequence (stale); curN counts the current stream's packets
	// rewritten, up to 2.
	prevSSRC, prevTS     uint32
	prevAt               time.Duration
	backSeq              uint16
	curN, backRun        uint8
	hadPrev, backPending bool
}

// newRewriter returns a rewriter for an outgoing stream with the given SSRC,
// whose first packet carries seq and ts.
func newRewriter(ssrc uint32, seq uint16, ts uint32) *rewriter {
	return &rewriter{ssrc: ssrc, firstSeq: seq, firstTS: ts, tsDelta: defaultTSDelta}
}

// rewrite fills out with the outgoing header for in, which arrived at now
// (session clock), using payload type pt; span is the duration of an RFC
// 4733 event packet (in timestamp units), 0 for audio. CSRCs, extensions
// and padding are dropped: we are the only source of our stream, and the
// input's extensions describe the other leg's stream.
func (r *rewriter) rewrite(in *rtp.Header, pt uint8, span uint32, out *rtp.Header, now time.Duration) {
	if !r.started || in.SSRC != r.inSSRC {
		r.rebase(in, now)
	}
	seq := in.SequenceNumber + r.seqOffset
	ts := in.Timestamp + r.tsOffset
	r.observe(seq, ts, span, now)
	if r.curN < 2 {
		r.curN++
	}
	marker := in.Marker || r.jumped
	r.jumped = false

	*out = rtp.Header{
		Version:        2,
		Marker:         marker,
		PayloadType:    pt,
		SequenceNumber: seq,
		Timestamp:      ts,
		SSRC:           r.ssrc,
		CSRC:           out.CSRC[:0],
		Extensions:     out.Extensions[:0],
	}
}

// stale reports whether in, a packet of the input stream the current one
// replaced arriving at now, is a late one not to be relayed: reordered
// across the switch, it would re-base our stream back onto the old one
// (its stale audio the newest, with the marker bit) and the next packet of
// the new stream forward again, a frame late for the rest of the call. A
// late packet is known by its timestamp: behind where the old stream's own
// timeline has got to by now (its last packet relayed, plus the wall time
// since) by more than a frame. A packet on time is the old stream back (a
// sender resuming after an announcement, or its RFC 4733 events on an SSRC
// of their own, interleaved with its audio): relayed at once. A sender
// whose timestamps did not run on while it was silent is taken back at
// its third packet in sequence. A current stream of a single packet (a
// stray) holds nothing back: the stream it cut into goes on at once.
func (r *rewriter) stale(in *rtp.Header, now time.Duration) bool {
	if !r.started || in.SSRC == r.inSSRC || !r.hadPrev || in.SSRC != r.prevSSRC || r.curN < 2 {
		return false
	}
	if behind := int32(r.prevTS + units(now-r.prevAt) - in.Timestamp); behind <= int32(r.tsDelta) {
		return false
	}
	if r.backPending && in.SequenceNumber == r.backSeq+1 {
		r.backRun++
	} else {
		r.backRun = 1
	}
	r.backSeq, r.backPending = in.SequenceNumber, true
	return r.backRun < 3
}

// skip accounts for in, the newest packet of its stream, that produces
// no outgoing packet (an event packet that adds no tone, audio the tone
// replaces): the next one's sequence number takes its place, so the
// receiver sees no loss.
func (r *rewriter) skip(in *rtp.Header) {
	if r.started && r.haveLast && in.SSRC == r.inSSRC && in.SequenceNumber+r.seqOffset == r.lastSeq+1 {
		r.seqOffset--
	}
}

// pause is skip for a packet not sent because the receiving peer is on
// hold: the packet after the pause, whenever it comes, carries the marker
// bit (RFC 3551 §4.1: the first packet after packets were not sent
// contiguously), so the receiver's jitter buffer re-anchors on the
// resumed stream, whose timestamps jumped by the time on hold.
func (r *rewriter) pause(in *rtp.Header) {
	r.skip(in)
	r.jumped = r.jumped || r.haveLast
}

// another makes room for one more outgoing packet after the last one
// rewritten, from the same input packet (a tone frame): rewriting that
// input again gives the next sequence number, and the later input
// packets follow on.
func (r *rewriter) another() {
	r.seqOffset++
}

// rebase aligns a new input stream, whose first packet arrived at now, so
// that this packet follows the last one we sent (or starts at our initial
// values): the next sequence number, and the timestamp advanced from where
// the last packet ended (its timestamp; for an RFC 4733 event, whose
// packets carry its start, the start plus its duration) by the wall time
// since that packet, in whole steps of the learnt packetisation (at least
// one). RFC 3550 §5.1: the timestamp is the sampling instant, so 3 s of
// silence before a new SSRC (a transfer, hold and resume, a DSP restart)
// must not look like 20 ms to the receiver's jitter buffer and estimate,
// nor audio right after a digit fall inside the digit's tone. That packet carries the marker bit, whether
// the sender set it on its new stream or not: RFC 3551 §4.1 asks it of
// the first packet after packets were not sent contiguously, and a
// receiver's adaptive jitter buffer re-anchors its playout on it.
func (r *rewriter) rebase(in *rtp.Header, now time.Duration) {
	nextSeq, nextTS := r.firstSeq, r.firstTS
	if r.haveLast {
		nextSeq = r.lastSeq + 1
		steps := max(1, (units(now-r.lastAt)+r.tsDelta/2)/r.tsDelta)
		nextTS = r.lastTS + r.lastSpan + steps*r.tsDelta
		r.jumped = true
	}
	if r.started {
		r.prevSSRC, r.hadPrev = r.inSSRC, true
		if r.haveLast {
			// Where the old stream had got to in its own timeline.
			r.prevTS, r.prevAt = r.lastTS+r.lastSpan-r.tsOffset, r.lastAt
		}
	}
	r.seqOffset = nextSeq - in.SequenceNumber
	r.tsOffset = nextTS - in.Timestamp
	r.backPending, r.curN = false, 0
	r.inSSRC = in.SSRC
	r.started = true
	r.haveLast = false
}

// observe tracks the newest packet sent (span: its event duration, 0 for
// audio), ignoring late (reordered) ones, and learns the timestamp step
// from consecutive audio packets. An event's packets share a timestamp,
// and the audio after it steps by the event's length: neither is the
// packetisation.
func (r *rewriter) observe(seq uint16, ts, span uint32, now time.Duration) {
	if !r.haveLast {
		r.lastSeq, r.lastTS, r.lastSpan, r.lastAt, r.haveLast = seq, ts, span, now, true
		return
	}
	d := int16(seq - r.lastSeq)
	if d <= 0 {
		return
	}
	if step := int32(ts - r.lastTS); d == 1 && step > 0 && span == 0 && r.lastSpan == 0 {
		r.tsDelta = uint32(step)
	}
	r.lastSeq, r.lastTS, r.lastSpan, r.lastAt = seq, ts, span, now
}

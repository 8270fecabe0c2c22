package relay

// This file holds the functional options of sessions and allocators. They
// are variadic so callers written before an option existed keep compiling.

import "time"

// Defaults of the options.
const (
	// DefaultRTCPInterval is how often a session reports to each peer.
	DefaultRTCPInterval = 5 * time.Second
	// DefaultQuarantine is how long a released port pair stays unused.
	DefaultQuarantine = 30 * time.Second
)

// SessionOption configures a Session.
type SessionOption func(*sessionOptions)

type sessionOptions struct {
	latching     bool
	mediaTimeout time.Duration
	onTimeout    func(Side)
	rtcpInterval time.Duration
	tap          PacketTap
	delay        func(from Side, d time.Duration)
	onDrop       func(side Side, r DropReason)
}

func defaultSessionOptions() sessionOptions {
	return sessionOptions{latching: true, rtcpInterval: DefaultRTCPInterval}
}

// WithLatching turns symmetric RTP latching on or off (on by default): once
// a leg's first packet arrives, its media is sent back to the packet's source
// instead of the SDP address, and packets from any third address are
// dropped. Off, media goes to the SDP addresses and any source is accepted.
func WithLatching(on bool) SessionOption {
	return func(o *sessionOptions) { o.latching = on }
}

// WithMediaTimeout calls onTimeout(side) once when side's leg has received
// no RTP and no RTCP for d while the timeout is not suspended (see
// SuspendTimeout).
// d <= 0 or a nil onTimeout disables the timeout (the default). onTimeout
// runs on a goroutine of its own, so it may call Close; it is never started
// once Close has begun.
func WithMediaTimeout(d time.Duration, onTimeout func(Side)) SessionOption {
	return func(o *sessionOptions) {
		if d <= 0 || onTimeout == nil {
			o.mediaTimeout, o.onTimeout = 0, nil
			return
		}
		o.mediaTimeout, o.onTimeout = d, onTimeout
	}
}

// WithRTCPInterval sets how often the session sends its RTCP report to each
// peer (DefaultRTCPInterval by default; d <= 0 keeps the default).
func WithRTCPInterval(d time.Duration) SessionOption {
	return func(o *sessionOptions) {
		if d > 0 {
			o.rtcpInterval = d
		}
	}
}

// WithDelayObserver calls observe, on the reading goroutine, for every RTP
// packet relayed: from is the side it came from, d the time from the
// kernel's receive timestamp of the datagram to the return of the send of
// its relayed copy (the wait in the socket's queue, the pipeline with any
// transcoding and SRTP, and the send); delays arrival.Age finds
// implausible (a step of the clock between the two readings) are left out. observe must be quick. Only on
// Linux (SO_TIMESTAMPNS); elsewhere it is never called. nil, the default,
// costs nothing.
func WithDelayObserver(observe func(from Side, d time.Duration)) SessionOption {
	return func(o *sessionOptions) { o.delay = observe }
}

// WithDropObserver calls observe, on the goroutine that drops it, for
// every packet the session drops (see Drops): side is the leg whose
// counters hold it. observe must be quick; a flood of garbage calls it per
// packet. nil, the default, costs nothing.
func WithDropObserver(observe func(side Side, r DropReason)) SessionOption {
	return func(o *sessionOptions) { o.onDrop = observe }
}

// AllocatorOption configures an Allocator.
type AllocatorOption func(*allocatorOptions)

type allocatorOptions struct {
	quarantine time.Duration
	now        func() time.Time
}

func defaultAllocatorOptions() allocatorOptions {
	return allocatorOptions{quarantine: DefaultQuarantine, now: time.Now}
}

// WithQuarantine sets how long a released port pair is kept out of use
// (DefaultQuarantine by default; 0 or less: reusable at once), so that late
// packets of an ended call never reach a new one.
func WithQuarantine(d time.Duration) AllocatorOption {
	return func(o *allocatorOptions) { o.quarantine = max(d, 0) }
}

// WithClock replaces time.Now for the quarantine, for tests.
func WithClock(now func() time.Time) AllocatorOption {
	return func(o *allocatorOptions) {
		if now != nil {
			o.now = now
		}
	}
}

package relay

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

const testMediaTimeout = 300 * time.Millisecond

// timeoutCall is a call whose session reports media timeouts on a channel.
type timeoutCall struct {
	*call
	fired chan Side
}

func newTimeoutCall(t *testing.T, a *Allocator, onTimeout func(*Session, Side)) *timeoutCall {
	t.Helper()
	fired := make(chan Side, 4)
	var c *call
	// c is set before the session starts, and only a started one times out.
	c = newCall(t, a, WithMediaTimeout(testMediaTimeout, func(side Side) {
		if onTimeout != nil {
			onTimeout(c.s, side)
		}
		fired <- side
	}))
	c.setLegs(t, codecPCMU, codecPCMA)
	return &timeoutCall{call: c, fired: fired}
}

// waitChecked waits until the watchdog has checked at session time at or
// after d: every check before it has been evaluated.
func (c *timeoutCall) waitChecked(t *testing.T, d time.Duration) {
	t.Helper()
	waitFor(c.ctx, t, "watchdog check at "+d.String(), func() bool { return time.Duration(c.s.lastCheck.Load()) >= d })
}

func (c *timeoutCall) expectFired(t *testing.T, want Side) time.Duration {
	t.Helper()
	select {
	case got := <-c.fired:
		if got != want {
			t.Fatalf("media timeout on %s, want %s", got, want)
		}
		return c.s.now()
	case <-c.ctx.Done():
		t.Fatalf("no media timeout on %s", want)
		return 0
	}
}

func (c *timeoutCall) expectNotFired(t *testing.T) {
	t.Helper()
	select {
	case side := <-c.fired:
		t.Fatalf("unexpected media timeout on %s", side)
	default:
	}
}

// keepAlive sends what send produces every 20 ms until the returned stop
// is called.
func keepAlive(t *testing.T, send func(i int)) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			send(i)
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	})
	stop = func() { cancel(); wg.Wait() }
	t.Cleanup(stop)
	return stop
}

// rtpSender returns a keepAlive function sending RTP from the peer; errors
// are ignored (it runs off the test goroutine; the socket may be closing).
func rtpSender(c *call, from *fakePeer, to netip.AddrPort) func(int) {
	return func(i int) {
		b, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: uint16(i), Timestamp: uint32(i) * 160, SSRC: 1}, Payload: make([]byte, 160)}).Marshal()
		_, _ = from.rtp.WriteToUDPAddrPort(b, to)
	}
}

func TestMediaTimeoutFiresOnceForTheSilentLeg(t *testing.T) {
	t.Parallel()
	c := newTimeoutCall(t, newTestAllocator(t, 2), nil)
	c.s.Start()
	// The client talks; the gateway stays silent.
	keepAlive(t, rtpSender(c.call, c.edge, c.sessionEdge))
	at := c.expectFired(t, Gateway)
	if at < testMediaTimeout {
		t.Fatalf("fired after %v, before the timeout", at)
	}
	c.waitChecked(t, at+3*testMediaTimeout)
	c.expectNotFired(t)
}

func TestMediaTimeoutRTCPKeepsALegAlive(t *testing.T) {
	t.Parallel()
	c := newTimeoutCall(t, newTestAllocator(t, 2), nil)
	c.s.Start()
	keepAlive(t, rtpSender(c.call, c.edge, c.sessionEdge))
	rr, err := (&rtcp.ReceiverReport{SSRC: 7}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	to := rtcpOf(c.sessionGW)
	stopRTCP := keepAlive(t, func(int) { _, _ = c.gw.rtcp.WriteToUDPAddrPort(rr, to) })
	c.waitChecked(t, 3*testMediaTimeout)
	c.expectNotFired(t)
	stopRTCP()
	c.expectFired(t, Gateway)
}

func TestMediaTimeoutSuspended(t *testing.T) {
	t.Parallel()
	c := newTimeoutCall(t, newTestAllocator(t, 2), nil)
	c.s.SuspendTimeout(true)
	c.s.Start()
	c.waitChecked(t, 3*testMediaTimeout)
	c.expectNotFired(t)
	resumed := c.s.now()
	c.s.SuspendTimeout(false)
	at := c.expectFired(t, Edge)
	if at-resumed < testMediaTimeout {
		t.Fatalf("fired %v after the suspension ended, want the full %v", at-resumed, testMediaTimeout)
	}
}

func TestMediaTimeoutCallbackMayClose(t *testing.T) {
	t.Parallel()
	closed := make(chan error, 1)
	c := newTimeoutCall(t, newTestAllocator(t, 2), func(s *Session, _ Side) { closed <- s.Close() })
	c.s.Start()
	c.expectFired(t, Edge)
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("Close from the callback: %v", err)
		}
	case <-c.ctx.Done():
		t.Fatal("Close from the callback did not return")
	}
	if got := c.alloc.InUse(); got != 0 {
		t.Fatalf("InUse = %d after Close from the callback", got)
	}
}

func TestMediaTimeoutDisabledByDefault(t *testing.T) {
	t.Parallel()
	c := newCall(t, newTestAllocator(t, 2))
	c.setLegs(t, codecPCMU, codecPCMA)
	c.s.Start()
	if c.s.opts.mediaTimeout != 0 {
		t.Fatalf("default media timeout %v, want none", c.s.opts.mediaTimeout)
	}
	for _, o := range []SessionOption{WithMediaTimeout(0, func(Side) {}), WithMediaTimeout(time.Second, nil)} {
		opts := defaultSessionOptions()
		o(&opts)
		if opts.mediaTimeout != 0 || opts.onTimeout != nil {
			t.Fatalf("options %+v: want the timeout disabled", opts)
		}
	}
}

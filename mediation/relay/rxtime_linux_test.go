//go:build linux

package relay

import (
	"encoding/binary"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/pion/rtp"
	"golang.org/x/sys/unix"
)

// cmsg builds one control message as the kernel lays it out.
func cmsg(level, typ int32, data []byte) []byte {
	var h unix.Cmsghdr
	h.Level, h.Type = level, typ
	h.SetLen(unix.CmsgLen(len(data)))
	out := make([]byte, unix.CmsgSpace(len(data)))
	copy(out, unsafe.Slice((*byte)(unsafe.Pointer(&h)), unix.SizeofCmsghdr))
	copy(out[unix.CmsgLen(0):], data)
	return out
}

func timespecBytes(t time.Time) []byte {
	ts := unix.NsecToTimespec(t.UnixNano())
	return unsafe.Slice((*byte)(unsafe.Pointer(&ts)), sizeofTimespec)
}

// TestRxTime: the arrival time is found alone and behind another control
// message; anything else (none, another type, cut short, a length that
// lies, random bytes) is no time and no panic.
func TestRxTime(t *testing.T) {
	at := time.Unix(1765000000, 123456789)
	stamp := cmsg(unix.SOL_SOCKET, unix.SCM_TIMESTAMPNS, timespecBytes(at))
	other := cmsg(unix.IPPROTO_IP, unix.IP_TTL, []byte{64, 0, 0, 0})
	for name, oob := range map[string][]byte{"alone": stamp, "behind another": append(append([]byte{}, other...), stamp...)} {
		if got, ok := rxTime(oob); !ok || !got.Equal(at) {
			t.Errorf("%s: %v %v, want %v", name, got, ok, at)
		}
	}
	lying := append([]byte{}, stamp...)
	binary.NativeEndian.PutUint32(lying, 4096) // a length past the buffer
	for name, oob := range map[string][]byte{
		"none": nil, "another type": other, "cut short": stamp[:len(stamp)-4], "header only": stamp[:unix.CmsgLen(0)],
		"length that lies": lying, "zero length": make([]byte, 64),
	} {
		if got, ok := rxTime(oob); ok {
			t.Errorf("%s: read %v", name, got)
		}
	}
	for range 100000 {
		b := make([]byte, rand.IntN(80))
		for i := range b {
			b[i] = byte(rand.Uint32())
		}
		rxTime(b) // no panic
	}
}

// TestSessionObservesDelay: with a delay observer, every relayed packet is
// observed once, with the side it came from and a delay from its arrival
// in the kernel (after the moment it was sent) to its relayed copy's send
// (before the observation, which comes after it).
func TestSessionObservesDelay(t *testing.T) {
	a := newTestAllocator(t, 4)
	var (
		mu     sync.Mutex
		delays = map[Side][]time.Duration{}
	)
	c := newCall(t, a, WithDelayObserver(func(from Side, d time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		delays[from] = append(delays[from], d)
	}))
	c.setLegs(t, codecPCMU, codecPCMA)
	c.s.Start()
	const n = 20
	for _, from := range []Side{Edge, Gateway} {
		src, dst, toSession, _ := c.ends(from)
		pt := uint8(0)
		if from == Gateway {
			pt = 8
		}
		for i := range n {
			sent := time.Now()
			src.sendRTP(t, toSession, rtp.Header{PayloadType: pt, SequenceNumber: uint16(i), Timestamp: uint32(i * 160), SSRC: 7}, payload(160, byte(i)))
			readRTP(c.ctx, t, dst.rtp)
			waitFor(c.ctx, t, "the observation", func() bool {
				mu.Lock()
				defer mu.Unlock()
				return len(delays[from]) == i+1
			})
			bound := time.Since(sent)
			mu.Lock()
			d := delays[from][i]
			mu.Unlock()
			if d <= 0 || d > bound {
				t.Fatalf("%s packet %d: delay %v, want above 0 and at most the %v between its send and its observation", from, i, d, bound)
			}
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(delays[Edge]) != n || len(delays[Gateway]) != n {
		t.Fatalf("observed %d edge and %d gateway packets, want %d each", len(delays[Edge]), len(delays[Gateway]), n)
	}
}

//go:build linux

package arrival

import (
	"encoding/binary"
	"math/rand/v2"
	"net"
	"testing"
	"time"
	"unsafe"

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

// TestTime: the arrival time is found alone and behind another control
// message; anything else (none, another type, cut short, a length that
// lies, random bytes) is no time and no panic.
func TestTime(t *testing.T) {
	at := time.Unix(1765000000, 123456789)
	stamp := cmsg(unix.SOL_SOCKET, unix.SCM_TIMESTAMPNS, timespecBytes(at))
	other := cmsg(unix.IPPROTO_IP, unix.IP_TTL, []byte{64, 0, 0, 0})
	for name, oob := range map[string][]byte{"alone": stamp, "behind another": append(append([]byte{}, other...), stamp...)} {
		if got, ok := Time(oob); !ok || !got.Equal(at) {
			t.Errorf("%s: %v %v, want %v", name, got, ok, at)
		}
	}
	lying := append([]byte{}, stamp...)
	binary.NativeEndian.PutUint32(lying, 4096) // a length past the buffer
	for name, oob := range map[string][]byte{
		"none": nil, "another type": other, "cut short": stamp[:len(stamp)-4], "header only": stamp[:unix.CmsgLen(0)],
		"length that lies": lying, "zero length": make([]byte, 64),
	} {
		if got, ok := Time(oob); ok {
			t.Errorf("%s: read %v", name, got)
		}
	}
	for range 100000 {
		b := make([]byte, rand.IntN(80))
		for i := range b {
			b[i] = byte(rand.Uint32())
		}
		Time(b) // no panic
	}
}

// TestEnable: a socket asked to stamp its datagrams returns, with each, the
// kernel's arrival time: after the send began and before the read ended.
func TestEnable(t *testing.T) {
	rx, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	tx, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	if !Enable(rx) {
		t.Fatal("SO_TIMESTAMPNS refused")
	}
	if err := rx.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	buf, oob := make([]byte, 64), make([]byte, OOBSize)
	for i := range 3 {
		sent := time.Now()
		if _, err := tx.WriteToUDPAddrPort([]byte("ping"), rx.LocalAddr().(*net.UDPAddr).AddrPort()); err != nil {
			t.Fatal(err)
		}
		_, oobn, _, err := ReadFrom(rx, buf, oob)
		if err != nil {
			t.Fatal(err)
		}
		read := time.Now()
		at, ok := Time(oob[:oobn])
		// Wall clocks, to the microsecond: the kernel's against ours.
		if !ok || at.Before(sent.Round(0).Add(-time.Millisecond)) || at.After(read.Round(0).Add(time.Millisecond)) {
			t.Fatalf("datagram %d: arrival %v (%v), sent %v, read %v", i, at, ok, sent, read)
		}
		if age, ok := Age(oob[:oobn], read); !ok || age > read.Sub(sent)+time.Millisecond {
			t.Fatalf("datagram %d: age %v (%v), %v from send to read", i, age, ok, read.Sub(sent))
		}
	}
	// Without oob, a plain read: no control messages, no age.
	if _, err := tx.WriteToUDPAddrPort([]byte("ping"), rx.LocalAddr().(*net.UDPAddr).AddrPort()); err != nil {
		t.Fatal(err)
	}
	n, oobn, src, err := ReadFrom(rx, buf, nil)
	if err != nil || string(buf[:n]) != "ping" || oobn != 0 || src != tx.LocalAddr().(*net.UDPAddr).AddrPort() {
		t.Fatalf("plain read: %q from %v, %d control bytes, %v", buf[:n], src, oobn, err)
	}
}

// TestAge: a stamp's age before now, only when plausible: none, one from
// the future (the clock stepped back) or from MaxAge ago or more (stepped
// forward) has none.
func TestAge(t *testing.T) {
	now := time.Now()
	stampAt := func(at time.Time) []byte { return cmsg(unix.SOL_SOCKET, unix.SCM_TIMESTAMPNS, timespecBytes(at)) }
	if age, ok := Age(stampAt(now.Add(-5*time.Millisecond)), now); !ok || age != 5*time.Millisecond {
		t.Errorf("5 ms old: %v %v", age, ok)
	}
	for name, oob := range map[string][]byte{
		"none": nil, "from the future": stampAt(now.Add(time.Second)), "MaxAge old": stampAt(now.Add(-MaxAge)),
	} {
		if age, ok := Age(oob, now); ok {
			t.Errorf("%s: age %v", name, age)
		}
	}
}

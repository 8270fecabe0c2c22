package relay

import (
	"crypto/rand"
	"encoding/binary"
	"hash/crc32"
	mrand "math/rand/v2"
	"net/netip"
	"testing"

	"github.com/rs/zerolog"
)

// stunBindingRequest is a STUN Binding request (RFC 8489 §5, §6): type
// 0x0001, the magic cookie, a random transaction ID. software, if not "",
// adds a SOFTWARE attribute and a FINGERPRINT (§14.7), as ICE agents send;
// "" is the bare 20-byte header Linphone sends as its keep-alive.
func stunBindingRequest(t *testing.T, software string) []byte {
	t.Helper()
	msg := make([]byte, 20, 64)
	binary.BigEndian.PutUint16(msg[0:], 0x0001)
	binary.BigEndian.PutUint32(msg[4:], 0x2112A442)
	if _, err := rand.Read(msg[8:20]); err != nil {
		t.Fatal(err)
	}
	if software == "" {
		return msg
	}
	msg = binary.BigEndian.AppendUint16(msg, 0x8022)
	msg = binary.BigEndian.AppendUint16(msg, uint16(len(software)))
	msg = append(msg, software...)
	for len(msg)%4 != 0 {
		msg = append(msg, 0)
	}
	// The length covers the FINGERPRINT attribute, which follows.
	binary.BigEndian.PutUint16(msg[2:], uint16(len(msg)-20+8))
	msg = binary.BigEndian.AppendUint16(msg, 0x8028)
	msg = binary.BigEndian.AppendUint16(msg, 4)
	return binary.BigEndian.AppendUint32(msg, crc32.ChecksumIEEE(msg)^0x5354554e)
}

// TestSTUNKeepAlivesAreNotMalformed: a peer's STUN Binding requests (the
// ICE keep-alives Linphone sends to our RTP and RTCP ports though no ICE
// was negotiated, r29-linphone), sent from its signalled addresses, are
// dropped for a reason of their own, stun: counted in the leg's drops and
// handed to the observer as such, logged once at debug, not at warn. A
// datagram that is neither RTP nor STUN is still malformed, with its
// warning. Before, every STUN message was malformed, and every call with
// such a peer logged a warning per leg.
func TestSTUNKeepAlivesAreNotMalformed(t *testing.T) {
	relayIP, peerIP := netip.MustParseAddr("127.0.86.1"), netip.MustParseAddr("127.0.86.2")
	logs, drops := &logBuffer{}, &dropCounter{}
	var s *Session
	for range 50 {
		low := 20000 + 2*mrand.IntN(6000)
		a, err := NewAllocator(relayIP, low, low+3, WithQuarantine(0))
		if err != nil {
			t.Fatal(err)
		}
		if s, err = NewSession(a, zerolog.New(logs).Level(zerolog.DebugLevel), WithDropObserver(drops.observe)); err == nil {
			break
		}
	}
	if s == nil {
		t.Fatalf("no free port pairs on %s", relayIP)
	}
	t.Cleanup(func() { _ = s.Close() })
	peerOn := func() *fakePeer { return &fakePeer{rtp: listenOn(t, peerIP), rtcp: listenOn(t, peerIP)} }
	c := &call{s: s, edge: peerOn(), gw: peerOn(), ctx: testContext(t), sessionEdge: s.Local(Edge), sessionGW: s.Local(Gateway)}
	c.setLegs(t, codecPCMU, codecPCMU)
	c.s.Start()

	const n = 3
	for range n {
		sendRaw(t, c.edge.rtp, c.sessionEdge, stunBindingRequest(t, ""))
		sendRaw(t, c.edge.rtcp, rtcpOf(c.sessionEdge), stunBindingRequest(t, "linphone"))
	}
	// Version 0 as STUN is, but no magic cookie: garbage.
	notSTUN := stunBindingRequest(t, "")
	notSTUN[4] = 0
	sendRaw(t, c.edge.rtp, c.sessionEdge, notSTUN)
	waitFor(c.ctx, t, "the drops", func() bool { return c.s.Stats().Edge.Dropped.Total() == 2*n+1 })

	if d := c.s.Stats().Edge.Dropped; d.STUN != 2*n || d.Malformed != 1 {
		t.Fatalf("edge drops %+v, want %d STUN and 1 malformed", d, 2*n)
	}
	if drops.get(Edge, DropSTUN) != 2*n || drops.get(Edge, DropMalformed) != 1 {
		t.Fatalf("observer saw %v, want %d stun and 1 malformed", drops.n, 2*n)
	}
	lines := logs.dropLines(t)
	levels := map[string]string{}
	for _, l := range lines {
		levels[l["reason"].(string)] = l["level"].(string)
	}
	if len(lines) != 2 || levels["stun"] != "debug" || levels["malformed"] != "warn" {
		t.Fatalf("drop log lines %v: want one for stun at debug and one for malformed at warn", lines)
	}
}

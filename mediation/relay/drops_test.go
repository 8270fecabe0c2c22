package relay

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/rs/zerolog"
)

// logBuffer collects a session's log lines, safe for its goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String is all the lines so far.
func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lines returns the JSON log lines whose reason field is set.
func (b *logBuffer) dropLines(t *testing.T) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(b.buf.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		if m["reason"] != nil {
			out = append(out, m)
		}
	}
	return out
}

// dropCounter is a drop observer that counts per side and reason.
type dropCounter struct {
	mu sync.Mutex
	n  map[Side]map[DropReason]uint64
}

func (d *dropCounter) observe(side Side, r DropReason) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.n == nil {
		d.n = map[Side]map[DropReason]uint64{}
	}
	if d.n[side] == nil {
		d.n[side] = map[DropReason]uint64{}
	}
	d.n[side][r]++
}

func (d *dropCounter) get(side Side, r DropReason) uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.n[side][r]
}

// newLoggedCall is newCall with the session's log in a buffer and a drop
// observer.
func newLoggedCall(t *testing.T) (*call, *logBuffer, *dropCounter) {
	t.Helper()
	logs, drops := &logBuffer{}, &dropCounter{}
	s, err := NewSession(newTestAllocator(t, 2), zerolog.New(logs).Level(zerolog.InfoLevel), WithDropObserver(drops.observe))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	c := &call{s: s, edge: newFakePeer(t), gw: newFakePeer(t), ctx: testContext(t),
		sessionEdge: s.Local(Edge), sessionGW: s.Local(Gateway)}
	return c, logs, drops
}

// TestDropsAreObservedAndLoggedOnce: a peer's garbage (oversize, version 1,
// runts, short RTCP, an unnegotiated codec), ten of each, is counted by
// reason, handed to the observer packet by packet, and logged once per
// reason, at warn, with the payload type of the first unknown one; the
// packet in the negotiated codec alone counts as accepted.
func TestDropsAreObservedAndLoggedOnce(t *testing.T) {
	c, logs, drops := newLoggedCall(t)
	c.setLegs(t, codecPCMU, codecPCMA)
	c.s.Start()
	const n = 10
	for i := range n {
		sendRaw(t, c.edge.rtp, c.sessionEdge, append([]byte{0x80, 0}, make([]byte, 1498)...))
		sendRaw(t, c.edge.rtp, c.sessionEdge, append([]byte{0x40, 0}, make([]byte, 170)...))
		sendRaw(t, c.edge.rtp, c.sessionEdge, []byte{0x80, 0, 0, 1, 2})
		sendRaw(t, c.edge.rtcp, rtcpOf(c.sessionEdge), []byte{0x80, 0xc9, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0})
		c.edge.sendRTP(t, c.sessionEdge, rtp.Header{PayloadType: 18, SequenceNumber: uint16(i), SSRC: 1}, payload(20, 0))
	}
	c.edge.sendRTP(t, c.sessionEdge, rtp.Header{PayloadType: 0, SequenceNumber: n, SSRC: 1}, payload(160, 0))
	readRTP(c.ctx, t, c.gw.rtp)
	waitFor(c.ctx, t, "the RTCP drops", func() bool { return c.s.Stats().Edge.Dropped.Malformed == 4*n })

	st := c.s.Stats().Edge
	if st.Dropped.UnknownPT != n || st.Dropped.Total() != 5*n {
		t.Fatalf("drops %+v, want %d malformed and %d unknown PT", st.Dropped, 4*n, n)
	}
	if st.RTPReceived != 4*n+1 || st.RTPAccepted != 1 || st.RTPAcceptedBytes != uint64(rtpHeaderLen+160) {
		t.Fatalf("received %d, accepted %d (%d bytes): want %d received, only the PCMU packet accepted",
			st.RTPReceived, st.RTPAccepted, st.RTPAcceptedBytes, 4*n+1)
	}
	if drops.get(Edge, DropMalformed) != 4*n || drops.get(Edge, DropUnknownPT) != n {
		t.Fatalf("observer saw %v", drops.n)
	}
	lines := logs.dropLines(t)
	if len(lines) != 2 {
		t.Fatalf("%d drop log lines, want one per reason: %v", len(lines), lines)
	}
	for _, l := range lines {
		if l["level"] != "warn" || l["side"] != "edge" {
			t.Errorf("drop log line %v: want level warn, side edge", l)
		}
		if l["reason"] == "unknown_payload_type" && l["pt"] != float64(18) {
			t.Errorf("unknown payload type line %v: want pt 18", l)
		}
	}
}

// TestDecryptFailureIsLoggedOnce: SRTP under another key fails
// authentication packet after packet: each is counted as a decrypt drop,
// none as accepted, and one warning says to check the keys.
func TestDecryptFailureIsLoggedOnce(t *testing.T) {
	c, logs, drops := newLoggedCall(t)
	keys := &SRTP{Profile: ProfileAES128SHA1_80, Recv: sfbKeying(t, "sfb-edge-srtp-optional-offer.sdp"), Send: ourKeying()}
	c.setSRTPEdge(t, keys)
	c.s.Start()
	wrong := newClientCrypto(t, &SRTP{Profile: ProfileAES128SHA1_80, Recv: ourKeying(), Send: ourKeying()})
	const n = 20
	for i := range n {
		plain := marshal(t, &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: uint16(i), SSRC: 7}, Payload: payload(160, 0)})
		sendRaw(t, c.edge.rtp, c.sessionEdge, wrong.encryptRTP(t, plain))
	}
	waitFor(c.ctx, t, "the decrypt drops", func() bool { return drops.get(Edge, DropDecrypt) == n })
	st := c.s.Stats().Edge
	if st.Dropped.Decrypt != n || st.RTPAccepted != 0 || st.RTPReceived != n {
		t.Fatalf("edge stats %+v: want %d decrypt drops, none accepted", st, n)
	}
	lines := logs.dropLines(t)
	if len(lines) != 1 || lines[0]["level"] != "warn" || lines[0]["reason"] != "decrypt_failed" ||
		!strings.Contains(lines[0]["message"].(string), "SRTP authentication failed on this leg: check the keys") || lines[0]["side"] != "edge" {
		t.Fatalf("drop log lines %v: want one warning that SRTP authentication failed on the edge leg", lines)
	}
}

// TestStrayPacketsLeaveTheStreamAlone: the client's stream (every 10th
// packet of 100 missing) is interrupted by an RTCP SR sent to our RTP port
// (an rtcp-mux peer, RFC 5761), a packet of an unnegotiated payload type
// and a packet of the negotiated codec under another SSRC (a stray, e.g. a
// late packet of an old source), then goes on: only the stray, which is
// relayed, counts as received, and none restarts the statistics (RFC 3550
// A.1 probation), so the loss of the first 100 (10) carries on; the RTCP
// is dropped as malformed, with a warning of its own naming rtcp-mux.
func TestStrayPacketsLeaveTheStreamAlone(t *testing.T) {
	c, logs, drops := newLoggedCall(t)
	c.setLegs(t, codecPCMU, codecPCMA)
	c.s.Start()
	sent, seq := 0, uint16(1000)
	stream := func(n int) {
		for i := range n {
			if i%10 != 9 {
				c.edge.sendRTP(t, c.sessionEdge, rtp.Header{PayloadType: 0, SequenceNumber: seq, Timestamp: uint32(seq) * 160, SSRC: 0xC1}, payload(160, 0))
				sent++
			}
			seq++
		}
	}
	stream(100)
	sr, err := (&rtcp.SenderReport{SSRC: 0xC1, NTPTime: ntpTime(time.Now()), PacketCount: 90}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	sendRaw(t, c.edge.rtp, c.sessionEdge, sr)
	c.edge.sendRTP(t, c.sessionEdge, rtp.Header{PayloadType: 13, SequenceNumber: 7, Timestamp: 99, SSRC: 0xBAD}, payload(1, 0))
	c.edge.sendRTP(t, c.sessionEdge, rtp.Header{PayloadType: 0, SequenceNumber: 5000, Timestamp: 99, SSRC: 0xBAD2}, payload(160, 0))
	stream(50)
	waitFor(c.ctx, t, "the stream relayed", func() bool { return c.s.Stats().Gateway.RTPSent == uint64(sent+1) })
	st := c.s.Stats().Edge
	if st.Lost != 10+4 || st.RTPAccepted != uint64(sent+1) {
		t.Fatalf("edge lost %d, accepted %d; want 14 (10 of the first 100, 4 of the next 50) and %d", st.Lost, st.RTPAccepted, sent+1)
	}
	if st.Dropped.Malformed != 1 || st.Dropped.UnknownPT != 1 || drops.get(Edge, DropMalformed) != 1 {
		t.Fatalf("drops %+v: want the SR as malformed, the CN as unknown PT", st.Dropped)
	}
	if !strings.Contains(logs.String(), "rtcp-mux (RFC 5761) is not supported") || !strings.Contains(logs.String(), `"reason":"malformed"`) {
		t.Errorf("no warning naming rtcp-mux:\n%s", logs.String())
	}
}

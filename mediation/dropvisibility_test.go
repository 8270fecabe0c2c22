package mediation_test

import (
	"encoding/base64"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"
	"github.com/rs/zerolog"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
)

// dropLab is a lab whose server logs JSON into logs and writes records to
// a file of the test's.
func dropLab(t *testing.T) (*mediationtest.Lab, *syncBuffer, string) {
	t.Helper()
	logs := &syncBuffer{}
	records := filepath.Join(t.TempDir(), "records.jsonl")
	lab := mediationtest.Start(t, mediationtest.Options{
		Log:       zerolog.New(logs).Level(zerolog.InfoLevel),
		Configure: func(c *mediation.Config) { c.Records.Path = records },
	})
	return lab, logs, records
}

// relayDropLines are the relay's log lines about dropped packets of reason.
func relayDropLines(logs *syncBuffer, reason string) []map[string]any {
	var out []map[string]any
	for _, l := range logs.lines() {
		if l["component"] == "relay" && l["reason"] == reason {
			out = append(out, l)
		}
	}
	return out
}

// waitEdgeLeg waits until the one call in progress has an edge leg for
// which cond holds.
func waitEdgeLeg(t *testing.T, srv *mediation.Server, cond func(mediation.LegRecord) bool) mediation.LegRecord {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		calls := srv.Calls()
		if len(calls) == 1 && cond(calls[0].EdgeLeg) {
			return calls[0].EdgeLeg
		}
		if time.Now().After(deadline) {
			t.Fatalf("call's edge leg: %+v", calls)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// sendRTPFrom sends one RTP packet of payload type pt from sock to to.
func sendRTPFrom(t *testing.T, sock *net.UDPConn, to netip.AddrPort, pt uint8, seq uint16, payload []byte) {
	t.Helper()
	b, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: seq, Timestamp: uint32(seq) * 160, SSRC: 0x11},
		Payload: payload}).Marshal()
	if _, err := sock.WriteToUDPAddrPort(b, to); err != nil {
		t.Fatal(err)
	}
}

// TestMalformedMediaIsVisible: from the client's own address, 1,500-byte
// datagrams, version-1 RTP, 5-byte runts, short RTCP and RTP of an
// unnegotiated codec (G.729) are dropped, and each shows: in the call
// record by reason (packetsReceived counts only the peer's parsed RTP of a
// negotiated payload type), in
// mediationserver_relay_dropped_packets_total, and in one warning per
// reason, never one per packet.
func TestMalformedMediaIsVisible(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	lab, logs, records := dropLab(t)
	client, port := mediaSocket(t)
	d := answeredCall(ctx, t, nil, request(gosip.INVITE, lab.Server.EdgeAddr().String(), "udp", lawSDP(port, 0, 101)))
	relayEdge := media(t, "answer", d.InviteResponse.Body()).RTP()
	relayRTCP := netip.AddrPortFrom(relayEdge.Addr(), relayEdge.Port()+1)

	const good, n = 5, 10
	for i := range good {
		sendRTPFrom(t, client, relayEdge, 0, uint16(i), make([]byte, 160))
	}
	for i := range n {
		for _, b := range [][]byte{append([]byte{0x80, 0}, make([]byte, 1498)...), append([]byte{0x40, 0}, make([]byte, 170)...), {0x80, 0, 0, 1, 2}} {
			if _, err := client.WriteToUDPAddrPort(b, relayEdge); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := client.WriteToUDPAddrPort([]byte{0x80, 0xc9, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0}, relayRTCP); err != nil {
			t.Fatal(err)
		}
		sendRTPFrom(t, client, relayEdge, 18, uint16(good+i), make([]byte, 20))
	}
	leg := waitEdgeLeg(t, lab.Server, func(l mediation.LegRecord) bool {
		return l.PacketsDropped != nil && l.PacketsDropped.Malformed == 4*n && l.PacketsDropped.UnknownPayloadType == n
	})
	if *leg.PacketsDropped != (mediation.DroppedPackets{Malformed: 4 * n, UnknownPayloadType: n}) || leg.PacketsReceived != good ||
		leg.BytesReceived != good*(12+160) {
		t.Errorf("edge leg %+v (dropped %+v): want %d received (the unknown PT is not the peer's stream), %d malformed, %d unknown PT",
			leg, *leg.PacketsDropped, good, 4*n, n)
	}
	mediationtest.WaitMetric(t, lab.Server, 4*n, "mediationserver_relay_dropped_packets_total", "side", "edge", "reason", "malformed")
	mediationtest.WaitMetric(t, lab.Server, n, "mediationserver_relay_dropped_packets_total", "side", "edge", "reason", "unknown_payload_type")
	mediationtest.WaitMetric(t, lab.Server, 0, "mediationserver_relay_dropped_packets_total", "side", "edge", "reason", "decrypt_failed")
	for _, reason := range []string{"malformed", "unknown_payload_type"} {
		lines := relayDropLines(logs, reason)
		if len(lines) != 1 || lines[0]["level"] != "warn" || lines[0]["side"] != "edge" {
			t.Errorf("%s: log lines %v, want one warning about the edge leg", reason, lines)
		}
	}
	if err := d.Bye(ctx); err != nil {
		t.Fatal(err)
	}
	waitNoCalls(t, lab.Server)
	recs := readRecords(t, records)
	if len(recs) != 1 || recs[0].EdgeLeg.PacketsDropped == nil || *recs[0].EdgeLeg.PacketsDropped != *leg.PacketsDropped {
		t.Fatalf("records %+v: want the edge leg's drops", recs)
	}
}

// TestWrongSRTPKeyIsVisible: a client whose SRTP is under another key than
// its a=crypto fails authentication packet after packet: the record
// counts each as decryptFailed and none as received, the metric moves, and
// one warning says to check the keys.
func TestWrongSRTPKeyIsVisible(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	lab, logs, _ := dropLab(t)
	client, port := mediaSocket(t)
	d := answeredCall(ctx, t, nil, request(gosip.INVITE, lab.Server.EdgeAddr().String(), "udp", srtpOffer(t, port)))
	relayEdge := media(t, "answer", d.InviteResponse.Body()).RTP()
	key, _ := base64.StdEncoding.DecodeString(fixtureKey)
	key[0] ^= 0xff // not the key the offer declared
	enc := srtpContext(t, key, []byte{1}, false)
	const n = 20
	for i := range n {
		plain, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: uint16(i), SSRC: 0x22}, Payload: make([]byte, 160)}).Marshal()
		b, err := enc.EncryptRTP(nil, plain, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := client.WriteToUDPAddrPort(b, relayEdge); err != nil {
			t.Fatal(err)
		}
	}
	leg := waitEdgeLeg(t, lab.Server, func(l mediation.LegRecord) bool {
		return l.PacketsDropped != nil && l.PacketsDropped.DecryptFailed == n
	})
	if leg.PacketsReceived != 0 || leg.BytesReceived != 0 {
		t.Errorf("edge leg %+v: no packet of the wrong key counts as received", leg)
	}
	mediationtest.WaitMetric(t, lab.Server, n, "mediationserver_relay_dropped_packets_total", "side", "edge", "reason", "decrypt_failed")
	lines := relayDropLines(logs, "decrypt_failed")
	if len(lines) != 1 || lines[0]["level"] != "warn" ||
		!strings.Contains(lines[0]["message"].(string), "SRTP authentication failed on this leg: check the keys") || lines[0]["side"] != "edge" {
		t.Errorf("log lines %v: want one warning that SRTP authentication failed on the edge leg", lines)
	}
	if err := d.Bye(ctx); err != nil {
		t.Fatal(err)
	}
}

// waitNoCalls waits until no call is in progress (its record written).
func waitNoCalls(t *testing.T, srv *mediation.Server) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for srv.ActiveCalls() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d calls still in progress", srv.ActiveCalls())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

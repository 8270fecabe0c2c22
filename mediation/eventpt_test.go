package mediation_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	gosip "github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/sdp"
)

// digitPackets is one RFC 4733 digit as an SBC or a client sends it: the
// start (marker), updates every 20 ms, then the end packet three times, all
// on the event's start timestamp.
func digitPackets(digit byte, pt uint8, ssrc uint32) []rtp.Packet {
	durations := []uint16{160, 320, 480, 640, 800, 800, 800, 800}
	out := make([]rtp.Packet, len(durations))
	for i, d := range durations {
		flags := byte(10) // volume -10 dBm0
		if i >= 5 {
			flags |= 0x80 // the end bit
		}
		payload := []byte{digit, flags, 0, 0}
		binary.BigEndian.PutUint16(payload[2:], d)
		out[i] = rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: uint16(500 + i),
			Timestamp: 16000, SSRC: ssrc, Marker: i == 0}, Payload: payload}
	}
	return out
}

// sendPacket sends p from sock to to.
func sendPacket(t *testing.T, sock *net.UDPConn, to netip.AddrPort, p *rtp.Packet) {
	t.Helper()
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sock.WriteToUDPAddrPort(b, to); err != nil {
		t.Fatal(err)
	}
}

// readRTPPacket is readPacket's datagram, parsed as RTP.
func readRTPPacket(t *testing.T, recv *net.UDPConn, what string) rtp.Packet {
	t.Helper()
	b, _ := readPacket(t, recv, what)
	var p rtp.Packet
	if err := p.Unmarshal(b); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return p
}

// relayDigit sends digit on payload type sendPT from sock to the relay's
// address to, and checks that the other peer's socket gets every packet
// of it with payload type wantPT and the event payload as sent.
func relayDigit(t *testing.T, sock *net.UDPConn, to netip.AddrPort, digit byte, sendPT uint8, recv *net.UDPConn, wantPT uint8) {
	t.Helper()
	sent := digitPackets(digit, sendPT, 0x4733)
	for i := range sent {
		sendPacket(t, sock, to, &sent[i])
	}
	for i := range sent {
		p := readRTPPacket(t, recv, fmt.Sprintf("digit %d sent on PT %d: packet %d of %d", digit, sendPT, i+1, len(sent)))
		if p.PayloadType != wantPT || !bytes.Equal(p.Payload, sent[i].Payload) || p.Marker != (i == 0) {
			t.Fatalf("digit %d sent on PT %d: packet %d arrived as PT %d, payload %x, marker %v; want PT %d, payload %x",
				digit, sendPT, i+1, p.PayloadType, p.Payload, p.Marker, wantPT, sent[i].Payload)
		}
	}
}

// waitLegEvents waits until the one call's leg (pick chooses it) took
// in n packets, and fails if any was dropped as unknown_payload_type.
func waitLegEvents(t *testing.T, srv *mediation.Server, who string, n uint64, pick func(mediation.Record) mediation.LegRecord) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		calls := srv.Calls()
		if len(calls) == 1 {
			l := pick(calls[0])
			if l.PacketsDropped != nil && l.PacketsDropped.UnknownPayloadType != 0 {
				t.Fatalf("%s leg dropped %d packets as unknown_payload_type (%+v)", who, l.PacketsDropped.UnknownPayloadType, *l.PacketsDropped)
			}
			if l.PacketsReceived == n {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s leg: want %d packets received; calls %+v", who, n, calls)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// eventCall is an answered, anchored outbound call between a client and
// an SBC that both offer PCMU and telephone-event: each one's media
// socket, and our SDP to each.
type eventCall struct {
	srv              *mediation.Server
	d                *sipgo.DialogClientSession
	sbcMedia, client *net.UDPConn
	offer, answer    sdp.Media // ours to the SBC, ours to the client
}

// startEventCall places an eventCall: the SBC answers telephone-event
// sbcPT, the client offers clientPT.
func startEventCall(ctx context.Context, t *testing.T, sbcPT, clientPT uint8) *eventCall {
	t.Helper()
	c := &eventCall{}
	sbc := startPeer(t, "sbc")
	var sbcPort, clientPort int
	c.sbcMedia, sbcPort = mediaSocket(t)
	sbc.invites(func(pi *peerInvite) { pi.respond(200, lawSDP(sbcPort, 0, sbcPT)) })
	c.srv = serveTo(t, sbc.addr(), "udp", nil)
	c.client, clientPort = mediaSocket(t)
	c.d = answeredCall(ctx, t, nil, request(gosip.INVITE, c.srv.EdgeAddr().String(), "udp", lawSDP(clientPort, 0, clientPT)))
	c.answer = media(t, "answer to the client", c.d.InviteResponse.Body())
	c.offer = media(t, "offer to the SBC", sbc.wait(ctx, gosip.INVITE, 1).Body())
	return c
}

// TestEventsOnOfferedPT: outbound, the client offers telephone-event 100,
// we offer the SBC our 101, and the SBC answers its own 96. RFC 3264 §6.1
// has the SBC send its DTMF on 101, our offer's number (the one §5.1 says
// the offerer expects to receive), which the relay takes and hands the
// client as its 100; an SBC that sends on its own answer's 96 (the lab's
// SBC, many real ones) is heard too. Either way none of it is dropped as
// unknown_payload_type, the events count as the SBC's stream, and the
// client's events reach the SBC on its 96. A client's telephone-event on
// 80 (RFC 3551 §3 lets dynamic bindings go below 96; no rtcp-mux is
// negotiated, so RFC 5761 §4's "not 64-95" does not apply) is answered and
// relayed whole: its start packet's marker bit makes its second byte 208,
// an RTCP packet type, which before was dropped as RTCP sent to our RTP
// port, losing the start of every digit.
func TestEventsOnOfferedPT(t *testing.T) {
	for _, tc := range []struct {
		name     string
		sbcPT    uint8 // what the SBC sends its digit on
		clientPT uint8 // the client's telephone-event
	}{
		{"on our offer's PT (RFC 3264)", 101, 100},
		{"on the SBC's answer's PT (lenient)", 96, 100},
		{"the client's PT below 96", 101, 80},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t, 30*time.Second)
			c := startEventCall(ctx, t, 96, tc.clientPT)
			if ev, ok := c.answer.TelephoneEvent(); !ok || ev.PT != tc.clientPT {
				t.Fatalf("client answered [%s], want telephone-event %d", codecNames(c.answer), tc.clientPT)
			}
			if ev, ok := c.offer.TelephoneEvent(); !ok || ev.PT != 101 {
				t.Fatalf("SBC offered [%s], want telephone-event 101", codecNames(c.offer))
			}

			relayDigit(t, c.sbcMedia, c.offer.RTP(), 9, tc.sbcPT, c.client, tc.clientPT)
			waitLegEvents(t, c.srv, "gateway", 8, func(r mediation.Record) mediation.LegRecord { return r.GatewayLeg })
			relayDigit(t, c.client, c.answer.RTP(), 5, tc.clientPT, c.sbcMedia, 96)
			waitLegEvents(t, c.srv, "edge", 8, func(r mediation.Record) mediation.LegRecord { return r.EdgeLeg })
			if err := c.d.Bye(ctx); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestInboundEventsOnOfferedPT: inbound, the SBC offers telephone-event
// 96, we offer the client the same 96, and the client answers 100. The
// client sends its DTMF on 96, as RFC 3264 §6.1 has it (the SfB user's
// digits to an IVR), or on its own 100: either reaches the SBC as 96, none
// dropped as unknown_payload_type; the SBC's events reach the client as
// its 100.
func TestInboundEventsOnOfferedPT(t *testing.T) {
	for _, tc := range []struct {
		name     string
		clientPT uint8
	}{
		{"on our offer's PT (RFC 3264)", 96},
		{"on the client's answer's PT (lenient)", 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t, 30*time.Second)
			sbc, edge := startPeer(t, "sbc"), startPeer(t, "client")
			client, clientPort := mediaSocket(t)
			edge.invites(func(pi *peerInvite) { pi.respond(200, lawSDP(clientPort, 0, 100)) })
			srv := serveTo(t, sbc.addr(), "udp", func(c *mediation.Config) { c.Edge.Peer = edge.addr().String() })
			sbcMedia, sbcPort := mediaSocket(t)
			oc := sbc.call(ctx, srv.GatewayAddr(), "udp", lawSDP(sbcPort, 0, 96))
			if res := oc.answer(ctx, nil); res.StatusCode != 200 {
				t.Fatalf("SBC got %d", res.StatusCode)
			}
			if err := oc.d.Ack(ctx); err != nil {
				t.Fatal(err)
			}
			answer := media(t, "answer to the SBC", oc.final.Body())
			if ev, ok := answer.TelephoneEvent(); !ok || ev.PT != 96 {
				t.Fatalf("SBC answered [%s], want telephone-event 96", codecNames(answer))
			}
			offer := media(t, "offer to the client", edge.wait(ctx, gosip.INVITE, 1).Body())
			if ev, ok := offer.TelephoneEvent(); !ok || ev.PT != 96 {
				t.Fatalf("client offered [%s], want telephone-event 96", codecNames(offer))
			}

			relayDigit(t, client, offer.RTP(), 7, tc.clientPT, sbcMedia, 96)
			waitLegEvents(t, srv, "edge", 8, func(r mediation.Record) mediation.LegRecord { return r.EdgeLeg })
			relayDigit(t, sbcMedia, answer.RTP(), 3, 96, client, 100)
			waitLegEvents(t, srv, "gateway", 8, func(r mediation.Record) mediation.LegRecord { return r.GatewayLeg })
			byeCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			if err := oc.d.Bye(byeCtx); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestNewSourceAfterDigit: the SBC's last packets on its SSRC are a 100 ms
// digit (every packet on the event's start timestamp, RFC 4733 §2.3, the
// duration reaching 800), then it starts a new SSRC at once (an IVR that
// took the digit hands the call on). The client gets the new source's
// first packet stamped after the event's end (start + duration), not
// inside its tone: RFC 3550 §5.1, the timestamp is the sampling instant.
// Before, it came 160 after the event's start, 640 units inside it.
func TestNewSourceAfterDigit(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	c := startEventCall(ctx, t, 101, 101)
	sbcMedia, toRelay := c.sbcMedia, c.offer.RTP()
	audio := func(ssrc uint32, seq uint16, ts uint32) *rtp.Packet {
		return &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: ts, SSRC: ssrc}, Payload: bytes.Repeat([]byte{0xff}, 160)}
	}
	for i := range 10 {
		sendPacket(t, sbcMedia, toRelay, audio(0xA, uint16(100+i), uint32(1000+160*i)))
		time.Sleep(20 * time.Millisecond)
	}
	digit := digitPackets(5, 101, 0xA)
	for i := range digit {
		digit[i].SequenceNumber, digit[i].Timestamp = uint16(110+i), 1000+160*10
		sendPacket(t, sbcMedia, toRelay, &digit[i])
		if i < 5 { // the end packet's repeats go back to back
			time.Sleep(20 * time.Millisecond)
		}
	}
	for i := range 5 {
		sendPacket(t, sbcMedia, toRelay, audio(0xB, uint16(9000+i), uint32(700000+160*i)))
		time.Sleep(20 * time.Millisecond)
	}
	var got []rtp.Packet
	for i := range 10 + len(digit) + 5 {
		got = append(got, readRTPPacket(t, c.client, fmt.Sprintf("packet %d", i+1)))
	}
	event, next := got[10], got[10+len(digit)]
	if event.PayloadType != 101 || next.PayloadType != 0 {
		t.Fatalf("packets %d and %d are PT %d and %d, want the event's 101 and the new source's 0", 11, 11+len(digit), event.PayloadType, next.PayloadType)
	}
	if d := int32(next.Timestamp - event.Timestamp); d < 800 {
		t.Errorf("the new source's first packet is stamped %d after the event's start, inside its 800-unit duration", d)
	}
	if err := c.d.Bye(ctx); err != nil {
		t.Fatal(err)
	}
}

package relay

import (
	"bytes"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

func TestContextsFor(t *testing.T) {
	good := ourKeying()
	tests := []struct {
		name    string
		cfg     *SRTP
		wantErr bool
	}{
		{"plain RTP", nil, false},
		{"AES_CM_128_HMAC_SHA1_80 with MKI", &SRTP{Profile: ProfileAES128SHA1_80, Recv: good, Send: good}, false},
		{"AES_CM_128_HMAC_SHA1_32 without MKI", &SRTP{Profile: ProfileAES128SHA1_32,
			Recv: Keying{Master: good.Master}, Send: Keying{Master: good.Master}}, false},
		{"unknown profile", &SRTP{Profile: "AEAD_AES_256_GCM", Recv: good, Send: good}, true},
		{"empty profile", &SRTP{Recv: good, Send: good}, true},
		{"short receive key", &SRTP{Profile: ProfileAES128SHA1_80, Recv: Keying{Master: good.Master[:16]}, Send: good}, true},
		{"long send key", &SRTP{Profile: ProfileAES128SHA1_80, Recv: good, Send: Keying{Master: append(bytes.Clone(good.Master), 0)}}, true},
		{"MKI too long", &SRTP{Profile: ProfileAES128SHA1_80, Recv: good, Send: Keying{Master: good.Master, MKI: make([]byte, 129)}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := contextsFor(tt.cfg, nil)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err == nil && (c == nil) != (tt.cfg == nil) {
				t.Fatalf("contexts %v for config %v", c, tt.cfg)
			}
		})
	}
}

// TestSRTPContextsKeptAcrossReInvite: a re-INVITE repeating the keys keeps
// the contexts (and so their rollover counters and replay windows); a new
// key of one direction gets that direction new contexts and keeps the
// other's (our send key kept across a peer's re-key must go on with its
// rollover counter and SRTCP index); a new receive key keeps the old one
// for the grace; a new suite gets all new ones; the caller's slices are
// copied.
func TestSRTPContextsKeptAcrossReInvite(t *testing.T) {
	keys := SRTP{Profile: ProfileAES128SHA1_80, Recv: ourKeying(), Send: ourKeying()}
	leg := Leg{RTP: benchAddr, Codec: codecPCMU, SRTP: &keys}
	first := mustPeer(t, leg)

	same := keys
	same.Recv = Keying{Master: bytes.Clone(keys.Recv.Master), MKI: []byte{1}}
	again, err := newPeer(Leg{RTP: benchAddr, Codec: codecPCMA, SRTP: &same}, first)
	if err != nil {
		t.Fatal(err)
	}
	if again.srtp != first.srtp {
		t.Fatal("same keys: contexts replaced")
	}

	sendKey := keys
	sendKey.Send = Keying{Master: bytes.Repeat([]byte{7}, 30), MKI: []byte{2}}
	next, err := newPeer(Leg{RTP: benchAddr, Codec: codecPCMU, SRTP: &sendKey}, first)
	if err != nil {
		t.Fatal(err)
	}
	if next.srtp.rtpOut == first.srtp.rtpOut || next.srtp.rtcpOut == first.srtp.rtcpOut {
		t.Fatal("new send key: send contexts kept")
	}
	if next.srtp.rtpIn != first.srtp.rtpIn || next.srtp.rtcpIn != first.srtp.rtcpIn || next.srtp.rtpPrev != nil {
		t.Fatal("same receive key: receive contexts replaced")
	}

	recvKey := keys
	recvKey.Recv = Keying{Master: bytes.Repeat([]byte{8}, 30)}
	next, err = newPeer(Leg{RTP: benchAddr, Codec: codecPCMU, SRTP: &recvKey}, first)
	if err != nil {
		t.Fatal(err)
	}
	if next.srtp.rtpOut != first.srtp.rtpOut || next.srtp.rtcpOut != first.srtp.rtcpOut {
		t.Fatal("same send key: send contexts replaced")
	}
	if next.srtp.rtpIn == first.srtp.rtpIn || next.srtp.rtcpIn == first.srtp.rtcpIn {
		t.Fatal("new receive key: receive contexts kept")
	}
	if next.srtp.rtpPrev != first.srtp.rtpIn || next.srtp.rtcpPrev != first.srtp.rtcpIn ||
		time.Until(next.srtp.graceEnd) <= 0 || time.Until(next.srtp.graceEnd) > rekeyGrace {
		t.Fatal("new receive key: the previous one is not kept for the grace")
	}

	suite := keys
	suite.Profile = ProfileAES128SHA1_32
	next, err = newPeer(Leg{RTP: benchAddr, Codec: codecPCMU, SRTP: &suite}, first)
	if err != nil {
		t.Fatal(err)
	}
	if next.srtp.rtpOut == first.srtp.rtpOut || next.srtp.rtpIn == first.srtp.rtpIn {
		t.Fatal("new suite: contexts kept")
	}

	keys.Recv.Master[0] ^= 0xff // the caller reuses its buffer
	if bytes.Equal(first.srtp.cfg.Recv.Master, keys.Recv.Master) {
		t.Fatal("the leg's keys alias the caller's slice")
	}
}

// TestSRTPRekeyGraceEnds: the previous receive key is refused once the
// grace is over, and dropped, though no packet came under the new key.
func TestSRTPRekeyGraceEnds(t *testing.T) {
	old := &SRTP{Profile: ProfileAES128SHA1_80, Recv: sfbKeying(t, "sfb-edge-srtp-optional-offer.sdp"), Send: ourKeying()}
	renewed := &SRTP{Profile: ProfileAES128SHA1_80, Recv: Keying{Master: bytes.Repeat([]byte{3}, 30), MKI: []byte{1}}, Send: ourKeying()}
	first := mustPeer(t, Leg{RTP: benchAddr, Codec: codecPCMU, SRTP: old})
	from, err := newPeer(Leg{RTP: benchAddr, Codec: codecPCMU, SRTP: renewed}, first)
	if err != nil {
		t.Fatal(err)
	}
	client := newClientCrypto(t, old)
	packet := func(seq uint16) []byte {
		return client.encryptRTP(t, marshal(t, &rtp.Packet{Header: rtp.Header{PayloadType: 0, SequenceNumber: seq, SSRC: 5}, Payload: payload(160, byte(seq))}))
	}
	p := newPipeline(newRewriter(1, 1, 1))
	if r := p.receive(packet(1), from); r != dropNone {
		t.Fatalf("old key within the grace: %v", r)
	}
	from.srtp.graceEnd = time.Now().Add(-time.Millisecond)
	if r := p.receive(packet(2), from); r != DropDecrypt {
		t.Fatalf("old key after the grace: %v, want %v", r, DropDecrypt)
	}
	if from.srtp.rtpPrev != nil {
		t.Fatal("the previous key is kept after the grace")
	}
}

// TestSRTCPRekeyGrace: SRTCP under the peer's previous key is taken during
// the grace until a packet comes under the new key, and refused after.
func TestSRTCPRekeyGrace(t *testing.T) {
	old := &SRTP{Profile: ProfileAES128SHA1_80, Recv: sfbKeying(t, "sfb-edge-srtp-optional-offer.sdp"), Send: ourKeying()}
	renewed := &SRTP{Profile: ProfileAES128SHA1_80, Recv: Keying{Master: bytes.Repeat([]byte{3}, 30), MKI: []byte{1}}, Send: ourKeying()}
	first := mustPeer(t, Leg{RTP: benchAddr, Codec: codecPCMU, SRTP: old})
	from, err := newPeer(Leg{RTP: benchAddr, Codec: codecPCMU, SRTP: renewed}, first)
	if err != nil {
		t.Fatal(err)
	}
	before, after := newClientCrypto(t, old), newClientCrypto(t, renewed)
	report := func(c *clientCrypto) []byte {
		b, err := (&rtcp.ReceiverReport{SSRC: 5}).Marshal()
		if err == nil {
			b, err = c.rtcpOut.EncryptRTCP(nil, b, nil)
		}
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for i, tt := range []struct {
		c  *clientCrypto
		ok bool
	}{{before, true}, {after, true}, {before, false}, {after, true}} {
		if _, err := from.srtp.decryptRTCP(report(tt.c)); (err == nil) != tt.ok {
			t.Fatalf("report %d: err %v, want success %v", i+1, err, tt.ok)
		}
	}
}

// TestSessionSRTPRejects sends packets the session must not relay from an
// SRTP client, each followed by a good one: the good one arrives, the bad
// one is counted as a decrypt drop.
func TestSessionSRTPRejects(t *testing.T) {
	sfb := sfbKeying(t, "sfb-edge-srtp-optional-offer.sdp")
	keys := &SRTP{Profile: ProfileAES128SHA1_80, Recv: sfb, Send: ourKeying()}
	packet := func(seq uint16) []byte {
		return marshal(t, &rtp.Packet{Header: rtp.Header{PayloadType: 0, SequenceNumber: seq, Timestamp: uint32(seq) * 160, SSRC: 77}, Payload: payload(160, byte(seq))})
	}
	tests := []struct {
		name string
		bad  func(t *testing.T, client *clientCrypto, first []byte) []byte
	}{
		{"replayed packet", func(t *testing.T, _ *clientCrypto, first []byte) []byte { return first }},
		{"tampered payload", func(t *testing.T, client *clientCrypto, _ []byte) []byte {
			b := client.encryptRTP(t, packet(2))
			b[20] ^= 1
			return b
		}},
		{"wrong MKI", func(t *testing.T, client *clientCrypto, _ []byte) []byte {
			b := client.encryptRTP(t, packet(2))
			b[len(b)-11] = 2
			return b
		}},
		{"plain RTP", func(t *testing.T, _ *clientCrypto, _ []byte) []byte { return packet(2) }},
		{"another key", func(t *testing.T, _ *clientCrypto, _ []byte) []byte {
			other := newClientCrypto(t, &SRTP{Profile: ProfileAES128SHA1_80, Recv: ourKeying(), Send: sfb})
			return other.encryptRTP(t, packet(2))
		}},
	}
	a := newTestAllocator(t, 4)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCall(t, a)
			c.setSRTPEdge(t, keys)
			c.s.Start()
			client := newClientCrypto(t, keys)

			first := client.encryptRTP(t, packet(1))
			sendRaw(t, c.edge.rtp, c.sessionEdge, first)
			if p, _ := readRTP(c.ctx, t, c.gw.rtp); !bytes.Equal(p.Payload, payload(160, 1)) {
				t.Fatalf("first packet payload %x", p.Payload)
			}
			sendRaw(t, c.edge.rtp, c.sessionEdge, tt.bad(t, client, first))
			sendRaw(t, c.edge.rtp, c.sessionEdge, client.encryptRTP(t, packet(3)))
			if p, _ := readRTP(c.ctx, t, c.gw.rtp); !bytes.Equal(p.Payload, payload(160, 3)) {
				t.Fatalf("packet after the bad one has payload %x, want packet 3's", p.Payload)
			}
			st := c.s.Stats().Edge
			if st.Dropped.Decrypt != 1 || st.Dropped.Total() != 1 || st.RTPReceived != 3 {
				t.Fatalf("edge stats %+v, want 3 received and 1 decrypt drop", st)
			}
		})
	}
}

// TestSessionSRTPReKey: a re-INVITE with new keys switches both directions
// to them; the old receive key is still accepted for what the peer sent
// before it had our answer, until the first packet under the new one (and
// over SRTCP likewise), and refused from then on.
func TestSessionSRTPReKey(t *testing.T) {
	c := newCall(t, newTestAllocator(t, 2))
	old := &SRTP{Profile: ProfileAES128SHA1_80, Recv: sfbKeying(t, "sfb-edge-srtp-optional-offer.sdp"), Send: ourKeying()}
	renewed := &SRTP{Profile: ProfileAES128SHA1_32,
		Recv: Keying{Master: bytes.Repeat([]byte{3}, 30), MKI: []byte{2}}, Send: Keying{Master: bytes.Repeat([]byte{4}, 30)}}
	edge := c.edge.leg(codecPCMU)
	edge.SRTP = old
	if err := c.s.SetLeg(Edge, edge); err != nil {
		t.Fatal(err)
	}
	if err := c.s.SetLeg(Gateway, c.gw.leg(codecPCMU)); err != nil {
		t.Fatal(err)
	}
	c.s.Start()
	packet := func(seq uint16) []byte {
		return marshal(t, &rtp.Packet{Header: rtp.Header{PayloadType: 0, SequenceNumber: seq, SSRC: 5}, Payload: payload(160, byte(seq))})
	}
	relayed := func(seq uint16) {
		t.Helper()
		if p, _ := readRTP(c.ctx, t, c.gw.rtp); !bytes.Equal(p.Payload, payload(160, byte(seq))) {
			t.Fatalf("relayed payload %x…, want packet %d's", p.Payload[:4], seq)
		}
	}
	before, after := newClientCrypto(t, old), newClientCrypto(t, renewed)
	sendRaw(t, c.edge.rtp, c.sessionEdge, before.encryptRTP(t, packet(1)))
	relayed(1)

	edge.SRTP = renewed
	if err := c.s.SetLeg(Edge, edge); err != nil {
		t.Fatal(err)
	}
	sendRaw(t, c.edge.rtp, c.sessionEdge, before.encryptRTP(t, packet(2)))
	relayed(2)
	sendRaw(t, c.edge.rtp, c.sessionEdge, after.encryptRTP(t, packet(3)))
	relayed(3)
	sendRaw(t, c.edge.rtp, c.sessionEdge, before.encryptRTP(t, packet(4)))
	sendRaw(t, c.edge.rtp, c.sessionEdge, after.encryptRTP(t, packet(5)))
	relayed(5)
	if d := c.s.Stats().Edge.Dropped; d.Decrypt != 1 || d.Total() != 1 {
		t.Fatalf("drops %+v, want the old key's packet after the new key's refused", d)
	}
	c.gw.sendRTP(t, c.sessionGW, rtp.Header{PayloadType: 0, SequenceNumber: 1, SSRC: 6}, payload(160, 9))
	b, _, err := readRaw(c.ctx, c.edge.rtp)
	if err != nil {
		t.Fatal(err)
	}
	var p rtp.Packet
	if err := p.Unmarshal(after.decryptRTP(t, b)); err != nil || !bytes.Equal(p.Payload, payload(160, 9)) {
		t.Fatalf("media to the client not under the new key: %v", err)
	}
}

// TestSessionSRTPReKeyKeepsROC: a peer whose stream has wrapped its
// sequence numbers (rollover counter 1) re-keys and, keeping its SSRC and
// sequence numbers, keeps its rollover counter (RFC 3711 §3.2.1): its
// packets under the new key are relayed. They were all refused, the new
// receive context starting at rollover counter 0. The counter may also
// wrap between the old key's last packet and the new key's first; a peer
// that restarts its stream under the new key (a new SSRC, or its counter
// back at 0) is taken as before.
func TestSessionSRTPReKeyKeepsROC(t *testing.T) {
	old := &SRTP{Profile: ProfileAES128SHA1_80, Recv: sfbKeying(t, "sfb-edge-srtp-optional-offer.sdp"), Send: ourKeying()}
	renewed := &SRTP{Profile: ProfileAES128SHA1_80, Recv: Keying{Master: bytes.Repeat([]byte{3}, 30), MKI: []byte{1}}, Send: ourKeying()}
	tests := []struct {
		name     string
		oldSeqs  []uint16 // sent under the old key, from rollover counter 0
		ssrc     uint32   // of the stream under the new key
		roc      uint32   // its rollover counter at its first packet
		firstSeq uint16
	}{
		{"rollover counter kept", []uint16{65534, 65535, 0, 1}, 5, 1, 2},
		{"sequence wraps at the re-key", []uint16{65533, 65534, 65535}, 5, 1, 0},
		{"new SSRC", []uint16{65534, 65535, 0, 1}, 6, 0, 2},
		{"rollover counter restarted", []uint16{65534, 65535, 0, 1}, 5, 0, 2},
	}
	a := newTestAllocator(t, 4)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCall(t, a)
			edge := c.edge.leg(codecPCMU)
			edge.SRTP = old
			if err := c.s.SetLeg(Edge, edge); err != nil {
				t.Fatal(err)
			}
			if err := c.s.SetLeg(Gateway, c.gw.leg(codecPCMU)); err != nil {
				t.Fatal(err)
			}
			c.s.Start()
			packet := func(ssrc uint32, seq uint16, mark byte) []byte {
				return marshal(t, &rtp.Packet{Header: rtp.Header{PayloadType: 0, SequenceNumber: seq, SSRC: ssrc}, Payload: payload(160, mark)})
			}
			relayed := func(mark byte) {
				t.Helper()
				if p, _ := readRTP(c.ctx, t, c.gw.rtp); !bytes.Equal(p.Payload, payload(160, mark)) {
					t.Fatalf("relayed payload %x…, want packet %d's", p.Payload[:4], mark)
				}
			}
			before := newClientCrypto(t, old)
			mark := byte(0)
			for _, seq := range tt.oldSeqs {
				mark++
				sendRaw(t, c.edge.rtp, c.sessionEdge, before.encryptRTP(t, packet(5, seq, mark)))
				relayed(mark)
			}
			edge.SRTP = renewed
			if err := c.s.SetLeg(Edge, edge); err != nil {
				t.Fatal(err)
			}
			after := newClientCrypto(t, renewed)
			after.rtpOut.SetROC(tt.ssrc, tt.roc)
			for i := range uint16(3) {
				mark++
				sendRaw(t, c.edge.rtp, c.sessionEdge, after.encryptRTP(t, packet(tt.ssrc, tt.firstSeq+i, mark)))
				relayed(mark)
			}
			if d := c.s.Stats().Edge.Dropped; d.Total() != 0 {
				t.Fatalf("drops %+v, want none", d)
			}
		})
	}
}

// TestSRTPRekeyROCAfterGrace: the rollover counter of the peer's previous
// key carries on to its new one though no packet came under the new key
// within the grace, through a second re-key before any did, and through
// a change of our key alone after that.
func TestSRTPRekeyROCAfterGrace(t *testing.T) {
	keying := func(b byte) *SRTP {
		return &SRTP{Profile: ProfileAES128SHA1_80, Recv: Keying{Master: bytes.Repeat([]byte{b}, 30), MKI: []byte{1}}, Send: ourKeying()}
	}
	first := mustPeer(t, Leg{RTP: benchAddr, Codec: codecPCMU, SRTP: keying(2)})
	client := newClientCrypto(t, keying(2))
	packet := func(c *clientCrypto, seq uint16) []byte {
		return c.encryptRTP(t, marshal(t, &rtp.Packet{Header: rtp.Header{PayloadType: 0, SequenceNumber: seq, SSRC: 5}, Payload: payload(160, byte(seq))}))
	}
	p := newPipeline(newRewriter(1, 1, 1))
	for _, seq := range []uint16{65535, 0, 1} { // rollover counter 1 from 0 on
		if r := p.receive(packet(client, seq), first); r != dropNone {
			t.Fatalf("packet %d under the first key: %v", seq, r)
		}
	}
	second, err := newPeer(Leg{RTP: benchAddr, Codec: codecPCMU, SRTP: keying(3)}, first)
	if err != nil {
		t.Fatal(err)
	}
	third, err := newPeer(Leg{RTP: benchAddr, Codec: codecPCMU, SRTP: keying(4)}, second)
	if err != nil {
		t.Fatal(err)
	}
	ours := keying(4)
	ours.Send = Keying{Master: bytes.Repeat([]byte{9}, 30)}
	fourth, err := newPeer(Leg{RTP: benchAddr, Codec: codecPCMU, SRTP: ours}, third)
	if err != nil {
		t.Fatal(err)
	}
	renewed := newClientCrypto(t, keying(4))
	renewed.rtpOut.SetROC(5, 1)
	for _, seq := range []uint16{2, 3} {
		if r := p.receive(packet(renewed, seq), fourth); r != dropNone {
			t.Fatalf("packet %d under the third key: %v", seq, r)
		}
	}
	if fourth.srtp.prior.Load() != nil || fourth.srtp.rtpPrev != nil {
		t.Fatal("the previous contexts are kept once the new key is in use")
	}
}

// TestSessionSRTPInherit: a peer whose stream has wrapped its sequence
// numbers (rollover counter 1) is re-pointed to another session of the
// call (a transfer's new relay), keeping its stream, and its key or a new
// one: with the closed session's receive state carried over (Inherit),
// its packets are relayed by the new session. A new session alone
// started at rollover counter 0 and refused them all.
func TestSessionSRTPInherit(t *testing.T) {
	old := &SRTP{Profile: ProfileAES128SHA1_80, Recv: sfbKeying(t, "sfb-edge-srtp-optional-offer.sdp"), Send: ourKeying()}
	ours := Keying{Master: bytes.Repeat([]byte{4}, 30)}
	tests := []struct {
		name string
		recv Keying // the peer's key in the new session
	}{
		{"same key", old.Recv},
		{"new key", Keying{Master: bytes.Repeat([]byte{3}, 30), MKI: []byte{1}}},
	}
	a := newTestAllocator(t, 4)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			packet := func(seq uint16) []byte {
				return marshal(t, &rtp.Packet{Header: rtp.Header{PayloadType: 0, SequenceNumber: seq, SSRC: 5}, Payload: payload(160, byte(seq))})
			}
			relayed := func(c *call, seq uint16) {
				t.Helper()
				if p, _ := readRTP(c.ctx, t, c.edge.rtp); !bytes.Equal(p.Payload, payload(160, byte(seq))) {
					t.Fatalf("relayed payload %x…, want packet %d's", p.Payload[:4], seq)
				}
			}
			first := newCall(t, a)
			gw := first.gw.leg(codecPCMU)
			gw.SRTP = old
			first.setLegLegs(t, first.edge.leg(codecPCMU), gw)
			first.s.Start()
			peer := newClientCrypto(t, old)
			for _, seq := range []uint16{65534, 65535, 0, 1} {
				sendRaw(t, first.gw.rtp, first.sessionGW, peer.encryptRTP(t, packet(seq)))
				relayed(first, seq)
			}
			if err := first.s.Close(); err != nil {
				t.Fatal(err)
			}

			second := newCall(t, a)
			renewed := &SRTP{Profile: ProfileAES128SHA1_80, Recv: tt.recv, Send: ours}
			gw = second.gw.leg(codecPCMU)
			gw.SRTP = renewed
			second.setLegLegs(t, second.edge.leg(codecPCMU), gw)
			second.s.Start()
			if err := second.s.Inherit(Gateway, first.s); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(tt.recv.Master, old.Recv.Master) {
				peer = newClientCrypto(t, renewed)
				peer.rtpOut.SetROC(5, 1)
			}
			for _, seq := range []uint16{2, 3} {
				sendRaw(t, second.gw.rtp, second.sessionGW, peer.encryptRTP(t, packet(seq)))
				relayed(second, seq)
			}
			if d := second.s.Stats().Gateway.Dropped; d.Total() != 0 {
				t.Fatalf("drops %+v, want none", d)
			}
		})
	}
}

package relay

import (
	"bytes"
	"testing"

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
// the contexts (and so their rollover counters and replay windows); new
// keys get new ones; the caller's slices are copied.
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

	rekeyed := keys
	rekeyed.Send = Keying{Master: bytes.Repeat([]byte{7}, 30), MKI: []byte{2}}
	next, err := newPeer(Leg{RTP: benchAddr, Codec: codecPCMU, SRTP: &rekeyed}, first)
	if err != nil {
		t.Fatal(err)
	}
	if next.srtp == first.srtp || next.srtp.rtpIn == first.srtp.rtpIn {
		t.Fatal("new keys: contexts kept")
	}

	keys.Recv.Master[0] ^= 0xff // the caller reuses its buffer
	if bytes.Equal(first.srtp.cfg.Recv.Master, keys.Recv.Master) {
		t.Fatal("the leg's keys alias the caller's slice")
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
// to them; the old receive key is refused from then on.
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
	before, after := newClientCrypto(t, old), newClientCrypto(t, renewed)
	sendRaw(t, c.edge.rtp, c.sessionEdge, before.encryptRTP(t, packet(1)))
	readRTP(c.ctx, t, c.gw.rtp)

	edge.SRTP = renewed
	if err := c.s.SetLeg(Edge, edge); err != nil {
		t.Fatal(err)
	}
	sendRaw(t, c.edge.rtp, c.sessionEdge, before.encryptRTP(t, packet(2)))
	sendRaw(t, c.edge.rtp, c.sessionEdge, after.encryptRTP(t, packet(3)))
	if p, _ := readRTP(c.ctx, t, c.gw.rtp); !bytes.Equal(p.Payload, payload(160, 3)) {
		t.Fatalf("relayed payload %x…, want packet 3's", p.Payload[:4])
	}
	if d := c.s.Stats().Edge.Dropped; d.Decrypt != 1 {
		t.Fatalf("drops %+v, want the old key's packet refused", d)
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

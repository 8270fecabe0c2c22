package relay

import (
	"net/netip"
	"testing"
)

func mustPeer(t *testing.T, leg Leg) *peer {
	t.Helper()
	p, err := newPeer(leg, nil)
	if err != nil {
		t.Fatalf("newPeer(%+v): %v", leg, err)
	}
	return p
}

func TestClassify(t *testing.T) {
	addr := netip.MustParseAddrPort("127.0.0.1:40000")
	pcmu := mustPeer(t, Leg{RTP: addr, Codec: Codec{PT: 0, Name: "PCMU", EventPT: 101}})
	pcma := mustPeer(t, Leg{RTP: addr, Codec: Codec{PT: 8, Name: "PCMA", EventPT: 96}})
	pcmaNoEvents := mustPeer(t, Leg{RTP: addr, Codec: Codec{PT: 8, Name: "pcma"}})
	dynPCMU := mustPeer(t, Leg{RTP: addr, Codec: Codec{PT: 110, Name: "PCMU", EventPT: 101}})
	g722 := mustPeer(t, Leg{RTP: addr, Codec: Codec{PT: 9, Name: "G722", EventPT: 101}})
	// A peer whose SDP and ours share several formats: it may send any.
	multi := mustPeer(t, Leg{RTP: addr, Codec: Codec{PT: 8, Name: "PCMA", EventPT: 101,
		Accept: []Format{{0, "PCMU"}, {9, "G722"}, {8, "PCMA"}}}})
	held := mustPeer(t, Leg{RTP: netip.MustParseAddrPort("0.0.0.0:40000"), Codec: Codec{PT: 0, Name: "PCMU"}})
	// An SBC that answered our telephone-event 101 with its own 96: it may
	// send on either (RFC 3264 §6.1 has it use ours).
	renumbered := mustPeer(t, Leg{RTP: addr, Codec: Codec{PT: 8, Name: "PCMA", EventPT: 96, OurEventPT: 101}})

	tests := []struct {
		name     string
		pt       uint8
		from, to *peer
		want     route
	}{
		{"PCMU to PCMA transcodes", 0, pcmu, pcma, route{pt: 8, conv: convUlawToAlaw}},
		{"PCMA to PCMU transcodes", 8, pcma, pcmu, route{pt: 0, conv: convAlawToUlaw}},
		{"same law passes", 0, pcmu, dynPCMU, route{pt: 110}},
		{"event remapped", 101, pcmu, pcma, route{pt: 96}},
		{"event back", 96, pcma, pcmu, route{pt: 101}},
		{"event to leg without events: tones", 101, pcmu, pcmaNoEvents, route{pt: 8, conv: convTone}},
		{"comfort noise", 13, pcmu, pcma, route{drop: DropUnknownPT}},
		{"G.722 decoded to PCMU", 9, g722, pcmu, route{pt: 0, conv: convG722ToUlaw}},
		{"PCMA encoded to G.722", 8, pcma, g722, route{pt: 9, conv: convAlawToG722}},
		{"event from a G.722 leg", 101, g722, pcma, route{pt: 96, conv: convCopy}},
		{"comfort noise never reaches the G.722 decoder", 13, g722, pcmu, route{drop: DropUnknownPT}},
		{"other leg's codec PT", 8, pcmu, pcma, route{drop: DropUnknownPT}},
		{"PT 0 is not an event when EventPT is 0", 0, pcmaNoEvents, pcmu, route{drop: DropUnknownPT}},
		{"answer's first law", 8, multi, pcmu, route{pt: 0, conv: convAlawToUlaw}},
		{"answer's second law", 0, multi, pcmu, route{pt: 0, conv: convCopy}},
		{"answer's second law transcoded", 0, multi, pcma, route{pt: 8, conv: convUlawToAlaw}},
		{"answer's G.722", 9, multi, pcma, route{pt: 8, conv: convG722ToAlaw}},
		{"event beside several laws", 101, multi, pcma, route{pt: 96}},
		{"format the peer did not list", 3, multi, pcma, route{drop: DropUnknownPT}},
		{"event on the PT of our SDP", 101, renumbered, pcmu, route{pt: 101}},
		{"event on the PT of the peer's SDP", 96, renumbered, pcmu, route{pt: 101}},
		{"event on our PT remapped to the other leg's", 101, renumbered, pcma, route{pt: 96}},
		{"event on our PT as tones", 101, renumbered, pcmaNoEvents, route{pt: 8, conv: convTone}},
		{"our event PT is not the other leg's", 96, pcmu, renumbered, route{drop: DropUnknownPT}},
		{"to leg unset", 0, pcmu, nil, route{drop: DropNoPeer}},
		{"from leg unset", 0, nil, pcma, route{drop: DropNoPeer}},
		{"to leg held (0.0.0.0)", 8, pcma, held, route{drop: DropNoPeer}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := classify(tt.pt, tt.from, tt.to); got != tt.want {
				t.Fatalf("classify(%d) = %+v, want %+v", tt.pt, got, tt.want)
			}
		})
	}
}

func TestNewPeer(t *testing.T) {
	rtpAddr := netip.MustParseAddrPort("127.0.0.1:40000")
	tests := []struct {
		name     string
		leg      Leg
		wantErr  bool
		wantRTCP netip.AddrPort
		rtcpOK   bool
	}{
		{"RTCP defaults to RTP+1", Leg{RTP: rtpAddr, Codec: Codec{Name: "PCMU"}}, false,
			netip.MustParseAddrPort("127.0.0.1:40001"), true},
		{"explicit RTCP kept", Leg{RTP: rtpAddr, RTCP: netip.MustParseAddrPort("127.0.0.1:5000"), Codec: Codec{PT: 8, Name: "PCMA"}}, false,
			netip.MustParseAddrPort("127.0.0.1:5000"), true},
		{"mapped IPv4 unmapped", Leg{RTP: netip.MustParseAddrPort("[::ffff:127.0.0.1]:40000"), Codec: Codec{Name: "PCMU"}}, false,
			netip.MustParseAddrPort("127.0.0.1:40001"), true},
		{"port 0 accepted but unusable", Leg{RTP: netip.MustParseAddrPort("127.0.0.1:0"), Codec: Codec{Name: "PCMU"}}, false,
			netip.AddrPort{}, false},
		{"unknown codec", Leg{RTP: rtpAddr, Codec: Codec{PT: 18, Name: "G729"}}, true, netip.AddrPort{}, false},
		{"empty codec", Leg{RTP: rtpAddr}, true, netip.AddrPort{}, false},
		{"PT out of range", Leg{RTP: rtpAddr, Codec: Codec{PT: 128, Name: "PCMU"}}, true, netip.AddrPort{}, false},
		{"event PT out of range", Leg{RTP: rtpAddr, Codec: Codec{Name: "PCMU", EventPT: 200}}, true, netip.AddrPort{}, false},
		{"event PT equals PT", Leg{RTP: rtpAddr, Codec: Codec{PT: 101, Name: "PCMU", EventPT: 101}}, true, netip.AddrPort{}, false},
		{"no RTP address", Leg{Codec: Codec{Name: "PCMU"}}, true, netip.AddrPort{}, false},
		{"our event PT", Leg{RTP: rtpAddr, Codec: Codec{Name: "PCMU", EventPT: 96, OurEventPT: 101}}, false,
			netip.MustParseAddrPort("127.0.0.1:40001"), true},
		{"our event PT without events", Leg{RTP: rtpAddr, Codec: Codec{Name: "PCMU", OurEventPT: 101}}, true, netip.AddrPort{}, false},
		{"our event PT out of range", Leg{RTP: rtpAddr, Codec: Codec{Name: "PCMU", EventPT: 96, OurEventPT: 128}}, true, netip.AddrPort{}, false},
		{"our event PT is the codec's", Leg{RTP: rtpAddr, Codec: Codec{Name: "PCMU", EventPT: 96, PT: 110, OurEventPT: 110}}, true, netip.AddrPort{}, false},
		{"our event PT is an accepted format's", Leg{RTP: rtpAddr, Codec: Codec{Name: "PCMU", EventPT: 96, OurEventPT: 8, Accept: []Format{{8, "PCMA"}}}}, true, netip.AddrPort{}, false},
		{"accepted formats", Leg{RTP: rtpAddr, Codec: Codec{Name: "PCMU", Accept: []Format{{8, "PCMA"}, {0, "pcmu"}}}}, false,
			netip.MustParseAddrPort("127.0.0.1:40001"), true},
		{"accepted PT names two codecs", Leg{RTP: rtpAddr, Codec: Codec{Name: "PCMU", Accept: []Format{{0, "PCMA"}}}}, true, netip.AddrPort{}, false},
		{"accepted PT is the event's", Leg{RTP: rtpAddr, Codec: Codec{Name: "PCMU", EventPT: 101, Accept: []Format{{101, "PCMA"}}}}, true, netip.AddrPort{}, false},
		{"accepted PT out of range", Leg{RTP: rtpAddr, Codec: Codec{Name: "PCMU", Accept: []Format{{128, "PCMA"}}}}, true, netip.AddrPort{}, false},
		{"accepted codec unknown", Leg{RTP: rtpAddr, Codec: Codec{Name: "PCMU", Accept: []Format{{18, "G729"}}}}, true, netip.AddrPort{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := newPeer(tt.leg, nil)
			if (err != nil) != tt.wantErr {
				t.Fatalf("newPeer err = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if p.rtcp != tt.wantRTCP || p.rtcpOK != tt.rtcpOK {
				t.Fatalf("rtcp = %s (ok %v), want %s (ok %v)", p.rtcp, p.rtcpOK, tt.wantRTCP, tt.rtcpOK)
			}
		})
	}
}

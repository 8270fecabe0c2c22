package mediationtest_test

import (
	"net/netip"
	"testing"

	"github.com/mediation-emulator/mediation/mediation/endpoint"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
)

func TestCallResultJudgement(t *testing.T) {
	ap := netip.MustParseAddrPort
	client, sbc := ap("127.0.0.1:40000"), ap("127.0.0.1:41000")
	edge, gw := ap("127.0.0.1:49154"), ap("127.0.0.1:49152")
	report := func(local, from netip.AddrPort, sent, received int, hz float64) endpoint.CallReport {
		return endpoint.CallReport{Code: 200, MediaLocal: local, MediaFrom: from, PacketsSent: sent, PacketsReceived: received, DetectedHz: hz}
	}
	tests := []struct {
		name              string
		client, sbc       endpoint.CallReport
		wantMedia         string
		wantPath          string
		wantAudio         bool
		wantToSBC, wantTo float64
	}{
		{"bypassed", report(client, sbc, 50, 50, 440), report(sbc, client, 50, 49, 1000),
			mediationtest.MediaBypassed, "client 127.0.0.1:40000 <-> SBC 127.0.0.1:41000", true, 0.02, 0},
		{"anchored", report(client, edge, 50, 45, 430), report(sbc, gw, 50, 50, 1020),
			mediationtest.MediaAnchored, "client 127.0.0.1:40000 <-> mediation 127.0.0.1:49154 | 49152 <-> SBC 127.0.0.1:41000", true, 0, 0.1},
		{"anchored on two addresses", report(client, edge, 10, 10, 440), report(sbc, ap("127.0.0.3:49152"), 10, 10, 1000),
			mediationtest.MediaAnchored, "client 127.0.0.1:40000 <-> mediation 127.0.0.1:49154 | 127.0.0.3:49152 <-> SBC 127.0.0.1:41000", true, 0, 0},
		{"one way relayed", report(client, edge, 10, 10, 440), report(sbc, client, 10, 10, 1000),
			mediationtest.MediaMixed, "client 127.0.0.1:40000 got RTP from 127.0.0.1:49154, SBC 127.0.0.1:41000 got RTP from 127.0.0.1:40000", true, 0, 0},
		{"client heard nothing", report(client, netip.AddrPort{}, 10, 0, 0), report(sbc, client, 10, 10, 1000),
			mediationtest.MediaNone, "client 127.0.0.1:40000 <-> SBC 127.0.0.1:41000: no RTP received by the client", false, 0, 1},
		{"wrong tone", report(client, sbc, 10, 10, 470), report(sbc, client, 10, 10, 1000),
			mediationtest.MediaBypassed, "client 127.0.0.1:40000 <-> SBC 127.0.0.1:41000", false, 0, 0},
		{"more received than sent", report(client, sbc, 10, 12, 440), report(sbc, client, 0, 10, 1000),
			mediationtest.MediaBypassed, "client 127.0.0.1:40000 <-> SBC 127.0.0.1:41000", true, 0, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mediationtest.CallResult{Client: tt.client, SBC: tt.sbc, ClientHz: 1000, SBCHz: 440}
			if got := r.Media(); got != tt.wantMedia {
				t.Errorf("Media = %q, want %q", got, tt.wantMedia)
			}
			if got := r.Path(); got != tt.wantPath {
				t.Errorf("Path = %q, want %q", got, tt.wantPath)
			}
			if got := r.AudioOK(); got != tt.wantAudio {
				t.Errorf("AudioOK = %v, want %v", got, tt.wantAudio)
			}
			toSBC, toClient := r.Loss()
			if toSBC != tt.wantToSBC || toClient != tt.wantTo {
				t.Errorf("Loss = %v, %v, want %v, %v", toSBC, toClient, tt.wantToSBC, tt.wantTo)
			}
			if !r.Answered() {
				t.Error("Answered = false for two 200s")
			}
		})
	}
}

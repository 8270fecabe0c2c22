package mediationtest_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/mediation-emulator/mediation/mediation/endpoint"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
)

func TestCallResultJudgement(t *testing.T) {
	ap := netip.MustParseAddrPort
	client, sbc := ap("127.0.0.1:40000"), ap("127.0.0.1:41000")
	edge, gw := ap("127.0.0.1:49154"), ap("127.0.0.1:49152")
	// report's expected and lost are the RFC 3550 counts of what it received.
	report := func(local, from netip.AddrPort, expected, lost int, hz float64) endpoint.CallReport {
		return endpoint.CallReport{Code: 200, MediaLocal: local, MediaFrom: from, PacketsSent: 50,
			PacketsReceived: expected - lost, PacketsExpected: expected, PacketsLost: lost, DetectedHz: hz,
			Jitter: time.Duration(expected) * time.Microsecond}
	}
	tests := []struct {
		name              string
		client, sbc       endpoint.CallReport
		wantMedia         string
		wantPath          string
		wantAudio         bool
		wantToSBC, wantTo float64
	}{
		{"bypassed", report(client, sbc, 50, 0, 440), report(sbc, client, 50, 1, 1000),
			mediationtest.MediaBypassed, "client 127.0.0.1:40000 <-> SBC 127.0.0.1:41000", true, 0.02, 0},
		{"anchored", report(client, edge, 50, 5, 430), report(sbc, gw, 50, 0, 1020),
			mediationtest.MediaAnchored, "client 127.0.0.1:40000 <-> mediation 127.0.0.1:49154 | 49152 <-> SBC 127.0.0.1:41000", true, 0, 0.1},
		{"anchored on two addresses", report(client, edge, 10, 0, 440), report(sbc, ap("127.0.0.3:49152"), 10, 0, 1000),
			mediationtest.MediaAnchored, "client 127.0.0.1:40000 <-> mediation 127.0.0.1:49154 | 127.0.0.3:49152 <-> SBC 127.0.0.1:41000", true, 0, 0},
		{"one way relayed", report(client, edge, 10, 0, 440), report(sbc, client, 10, 0, 1000),
			mediationtest.MediaMixed, "client 127.0.0.1:40000 got RTP from 127.0.0.1:49154, SBC 127.0.0.1:41000 got RTP from 127.0.0.1:40000", true, 0, 0},
		{"client heard nothing", report(client, netip.AddrPort{}, 0, 0, 0), report(sbc, client, 10, 0, 1000),
			mediationtest.MediaNone, "client 127.0.0.1:40000 <-> SBC 127.0.0.1:41000: no RTP received by the client", false, 0, -1},
		{"wrong tone", report(client, sbc, 10, 0, 470), report(sbc, client, 10, 0, 1000),
			mediationtest.MediaBypassed, "client 127.0.0.1:40000 <-> SBC 127.0.0.1:41000", false, 0, 0},
		{"half lost", report(client, sbc, 40, 20, 440), report(sbc, client, 8, 2, 1000),
			mediationtest.MediaBypassed, "client 127.0.0.1:40000 <-> SBC 127.0.0.1:41000", true, 0.25, 0.5},
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
			jSBC, jClient := r.Jitter()
			if jSBC != tt.sbc.Jitter || jClient != tt.client.Jitter {
				t.Errorf("Jitter = %v, %v, want %v, %v", jSBC, jClient, tt.sbc.Jitter, tt.client.Jitter)
			}
			if !r.Answered() {
				t.Error("Answered = false for two 200s")
			}
		})
	}
}

package mediationtest_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/endpoint"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
	"github.com/mediation-emulator/mediation/sdp"
)

// wideband puts G.722 first in media.edge_codecs, as README advises for
// wideband audio to SfB clients.
func wideband(c *mediation.Config) { c.Media.EdgeCodecs = []string{"G722", "PCMU", "PCMA"} }

// codecNames are the codec names of an SDP body's audio m= line, in order.
func codecNames(t *testing.T, body []byte) []string {
	t.Helper()
	m, err := sdp.Parse(body)
	if err != nil {
		t.Fatalf("sdp: %v\n%s", err, body)
	}
	var names []string
	for _, c := range m.Codecs {
		names = append(names, strings.ToUpper(c.Name))
	}
	return names
}

// TestWidebandClient: with media.edge_codecs G722 first, an anchored call
// of the lab's client is answered G.722, and the client sends and hears
// its tones in it, while the SBC gets G.711 (r24-media F8: the client
// offered G.722 it could not decode, and every such call failed). A client
// limited to one law (--codecs PCMA) offers neither G.722 nor PCMU and is
// answered PCMA; a bypassed client gets the SBC's G.711 whatever it offers.
func TestWidebandClient(t *testing.T) {
	cases := []struct {
		name      string
		opt       mediationtest.ClientOptions
		media     string
		codec     string // the client's
		offerNot  []string
		receiveAt int // the client's received PT
	}{
		{"anchored, SfB's offer", mediationtest.ClientOptions{Version: mediationtest.Lync2013Version},
			mediationtest.MediaAnchored, endpoint.G722, nil, 9},
		{"anchored, PCMA only", mediationtest.ClientOptions{Version: mediationtest.Lync2013Version, Codecs: []string{endpoint.PCMA}},
			mediationtest.MediaAnchored, endpoint.PCMA, []string{endpoint.G722, endpoint.PCMU, "SILK"}, 8},
		{"anchored, PCMU then G722", mediationtest.ClientOptions{Version: mediationtest.Lync2013Version, Codecs: []string{endpoint.PCMU, endpoint.G722}},
			mediationtest.MediaAnchored, endpoint.PCMU, []string{endpoint.PCMA}, 0},
		{"bypassed", mediationtest.ClientOptions{Version: mediationtest.SupportedVersion},
			mediationtest.MediaBypassed, endpoint.PCMA, nil, 8},
	}
	lab := mediationtest.Start(t, mediationtest.Options{Configure: wideband})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t, 60*time.Second)
			client, err := lab.NewClient(ctx, tc.opt)
			if err != nil {
				t.Fatal(err)
			}
			r, err := lab.CallOut(ctx, client, endpoint.CallOptions{Duration: 500 * time.Millisecond})
			checkCall(t, r, err, tc.media)
			offered := codecNames(t, r.Client.OfferSDP)
			for _, c := range tc.offerNot {
				if slices.Contains(offered, c) {
					t.Errorf("client offered %v, with %s", offered, c)
				}
			}
			if r.Client.Codec != tc.codec || r.Client.ReceivedPT != tc.receiveAt || r.Client.PacketsReceived == 0 || r.Client.PacketsSent == 0 {
				t.Errorf("client: codec %s, received PT %d, %d sent, %d received; want %s and PT %d both ways (answer %v)",
					r.Client.Codec, r.Client.ReceivedPT, r.Client.PacketsSent, r.Client.PacketsReceived, tc.codec, tc.receiveAt,
					codecNames(t, r.Client.AnswerSDP))
			}
			if r.SBC.Codec != endpoint.PCMA && r.SBC.Codec != endpoint.PCMU {
				t.Errorf("SBC: codec %s, want G.711", r.SBC.Codec)
			}
		})
	}
}

package mediationtest_test

import (
	"testing"
	"time"

	"github.com/mediation-emulator/mediation/mediation/endpoint"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
)

// TestDTMFThroughServer sends RFC 4733 digits through a mediation server.
// The SBC answers telephone-event on PT 96 where the SfB client offered
// 101: anchored, the relay must remap the payload type, or the SBC would
// take the events for audio and recognise no digit; bypassed, the two ends
// share the client's PT and the server only rewrites the SDP.
func TestDTMFThroughServer(t *testing.T) {
	tests := []struct {
		name      string
		version   string
		sbcPT     int
		wantMedia string
		wantSBCPT int
		inbound   bool // the SBC calls the edge peer and sends the digits
		// wantClientPT is the PT the client was answered: in bypass the
		// SBC's, since the client's events go straight to the SBC.
		wantClientPT int
	}{
		{"anchored, remapped 101 to 96", mediationtest.Lync2013Version, 96, mediationtest.MediaAnchored, 96, false, 101},
		{"bypassed", mediationtest.SupportedVersion, 0, mediationtest.MediaBypassed, 101, false, 101},
		{"bypassed, SBC on 96", mediationtest.SupportedVersion, 96, mediationtest.MediaBypassed, 96, false, 96},
		{"anchored inbound", mediationtest.Lync2013Version, 0, mediationtest.MediaAnchored, 101, true, 101},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testCtx(t, 60*time.Second)
			lab := mediationtest.Start(t, mediationtest.Options{SBC: endpoint.SBCConfig{TelephoneEventPT: tt.sbcPT}})
			client, err := lab.NewEdgePeer(ctx, mediationtest.ClientOptions{Version: tt.version})
			if err != nil {
				t.Fatal(err)
			}
			const digits = "123#"
			opt := endpoint.CallOptions{Duration: 300 * time.Millisecond, DTMF: digits}
			var r mediationtest.CallResult
			sender, receiver := &r.Client, &r.SBC
			if tt.inbound {
				r, err = lab.CallIn(ctx, opt)
				sender, receiver = &r.SBC, &r.Client
			} else {
				r, err = lab.CallOut(ctx, client, opt)
			}
			checkCall(t, r, err, tt.wantMedia)
			if sender.DigitsSent != digits || receiver.DigitsReceived != digits {
				t.Errorf("sent %q, received %q; want %q", sender.DigitsSent, receiver.DigitsReceived, digits)
			}
			if receiver.DigitsReceivedInBand != "" {
				t.Errorf("heard %q in-band too; events are no audio", receiver.DigitsReceivedInBand)
			}
			if r.Client.EventPT != tt.wantClientPT || r.SBC.EventPT != tt.wantSBCPT {
				t.Errorf("telephone-event PT: client %d, SBC %d; want %d and %d", r.Client.EventPT, r.SBC.EventPT, tt.wantClientPT, tt.wantSBCPT)
			}
			toSBC, toClient := r.Jitter()
			if toSBC <= 0 || toClient <= 0 || toSBC > 50*time.Millisecond || toClient > 50*time.Millisecond {
				t.Errorf("jitter %v to the SBC, %v to the client", toSBC, toClient)
			}
		})
	}
}

// TestDTMFInBandThroughServer: an SBC whose 183 answers telephone-event
// and whose 200 drops it (a trunk without RFC 4733 in the end). The
// client keeps the 183's answer and sends RFC 4733 events; the anchoring
// relay plays them to the SBC as tones in its law, and the SBC hears each
// digit once, in-band only, repeated keys included.
func TestDTMFInBandThroughServer(t *testing.T) {
	for _, law := range []string{endpoint.PCMA, endpoint.PCMU} {
		t.Run(law, func(t *testing.T) {
			ctx := testCtx(t, 60*time.Second)
			lab := mediationtest.Start(t, mediationtest.Options{SBC: endpoint.SBCConfig{Codecs: []string{law},
				TelephoneEventPT: endpoint.NoTelephoneEvent, EarlyTelephoneEvent: true}})
			client, err := lab.NewClient(ctx, mediationtest.ClientOptions{Version: mediationtest.Lync2013Version})
			if err != nil {
				t.Fatal(err)
			}
			const digits = "1234#*11"
			r, err := lab.CallOut(ctx, client, endpoint.CallOptions{Duration: 300 * time.Millisecond, DTMF: digits})
			checkCall(t, r, err, mediationtest.MediaAnchored)
			if r.Client.EventPT != 101 || r.Client.DigitsSent != digits {
				t.Errorf("client sent %q on PT %d; want %q on 101, the 183's", r.Client.DigitsSent, r.Client.EventPT, digits)
			}
			if r.SBC.Codec != law || r.SBC.EventPT != -1 || r.SBC.DigitsReceived != "" || r.SBC.DigitsReceivedInBand != digits {
				t.Errorf("SBC: %s, PT %d, %q as events, %q in-band; want %s, -1, none and %q", r.SBC.Codec, r.SBC.EventPT,
					r.SBC.DigitsReceived, r.SBC.DigitsReceivedInBand, law, digits)
			}
		})
	}
}

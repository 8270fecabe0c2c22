package mediation

import (
	"net/netip"
	"reflect"
	"testing"

	"github.com/mediation-emulator/mediation/mediation/relay"
	"github.com/mediation-emulator/mediation/sdp"
)

// TestLegForOurPayloadTypes: the relay takes a peer's telephone-event and
// audio on the payload types of our SDP to it as well as its own (RFC 3264
// §5.1, §6.1), unless its own SDP gives that number to another format (its
// numbering wins); events only when both legs have them.
func TestLegForOurPayloadTypes(t *testing.T) {
	te := func(pt uint8) sdp.Codec { c := sdp.TelephoneEvent; c.PT = pt; return c }
	pcmu := func(pt uint8) sdp.Codec { c := sdp.PCMU; c.PT = pt; return c }
	ours := declaredIn([]sdp.Codec{sdp.PCMU, sdp.PCMA, te(101)})
	peer := func(codecs ...sdp.Codec) sdp.Media {
		return sdp.Media{Addr: netip.MustParseAddr("127.0.0.1"), Port: 4000, RTCPPort: 4001, Codecs: codecs}
	}
	for _, tc := range []struct {
		name       string
		media      sdp.Media
		events     bool
		eventPT    uint8
		ourEventPT uint8
		accept     []relay.Format
	}{
		{"answer renumbered the event", peer(sdp.PCMA, te(96)), true, 96, 101, nil},
		{"same event number", peer(sdp.PCMA, te(101)), true, 101, 0, nil},
		{"no events on the other leg", peer(sdp.PCMA, te(96)), false, 0, 0, nil},
		{"our event number is the peer's PCMU", peer(sdp.PCMA, pcmu(101), te(96)), true, 96, 0,
			[]relay.Format{{PT: 101, Name: "PCMU"}, {PT: 0, Name: "PCMU"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p mediaPlan
			l := p.legFor(relay.Gateway, relayPeer{media: tc.media, codec: sdp.PCMA, ours: ours}, tc.events)
			if l.Codec.EventPT != tc.eventPT || l.Codec.OurEventPT != tc.ourEventPT || !reflect.DeepEqual(l.Codec.Accept, tc.accept) {
				t.Fatalf("codec %+v, want event PT %d, ours %d, accept %v", l.Codec, tc.eventPT, tc.ourEventPT, tc.accept)
			}
		})
	}
}

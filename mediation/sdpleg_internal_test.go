package mediation

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"

	"github.com/mediation-emulator/mediation/mediation/relay"
	"github.com/mediation-emulator/mediation/sdp"
)

// TestSDPLegOriginNotUnspecified: a leg whose first SDP is an RFC 2543
// hold (c=0.0.0.0) does not keep 0.0.0.0 as its o= address for life: the
// first real address fixes it, and it stays through later changes.
func TestSDPLegOriginNotUnspecified(t *testing.T) {
	l := newSDPLeg()
	d := sdp.Description{Addr: netip.MustParseAddr("0.0.0.0"), Port: 4000, Codecs: []sdp.Codec{{PT: 0, Name: "PCMU", Rate: 8000}}}
	if first := string(l.marshal(d)); !strings.Contains(first, "c=IN IP4 0.0.0.0") {
		t.Fatalf("the hold's SDP:\n%s", first)
	}
	d.Addr = netip.MustParseAddr("127.0.0.7")
	second := string(l.marshal(d))
	d.Addr, d.Port = netip.MustParseAddr("127.0.0.8"), 4002
	third := string(l.marshal(d))
	o := func(body string) string {
		for _, line := range strings.Split(body, "\r\n") {
			if strings.HasPrefix(line, "o=") {
				return line
			}
		}
		return ""
	}
	if strings.Contains(o(second), "0.0.0.0") || !strings.Contains(o(second), "127.0.0.7") {
		t.Errorf("o= after the hold %q, want the first real address", o(second))
	}
	if !strings.Contains(o(third), "127.0.0.7") {
		t.Errorf("o= after a move %q, want the address fixed at 127.0.0.7", o(third))
	}
}

// TestRefusedOffersTakeVersions: each offer the peer refuses was sent, so
// its version is never used again; the session restored after it, sent
// again, takes the next one, and so does a new offer, twice refused in a
// row as once. The SDP the peer had is what comes back, only newer.
func TestRefusedOffersTakeVersions(t *testing.T) {
	offer := fixture(t, "sfb-bypass-offer.sdp")
	offer.BypassID = fixtureID
	p := mediaPlan{dir: outbound, offer: offer, log: nopCallLog()}
	on := BypassSettings{Enabled: true, AlwaysBypass: true, BypassID: fixtureID}
	first, err := p.planOffer(on, true, nil)
	if err != nil || !p.decision.bypass {
		t.Fatalf("bypass %v, err %v", p.decision.bypass, err)
	}
	if _, err := p.planAnswer(fixtureBytes(t, "sbc-answer-pcma.sdp"), true, "t"); err != nil {
		t.Fatal(err)
	}
	version := func(body []byte) uint64 {
		t.Helper()
		m, err := sdp.Parse(body)
		if err != nil {
			t.Fatal(err)
		}
		return m.OriginVersion
	}
	refused := func(dir string, send bool) []byte {
		t.Helper()
		o := offer
		o.Direction = dir
		ro, body, err := p.reOffer(relay.Edge, o, nil, false)
		if err != nil {
			t.Fatal(err)
		}
		ro.out = send
		p.refuse(ro)
		return body
	}
	withoutVersion := func(body []byte) string {
		_, rest, _ := strings.Cut(string(body), "\r\ns=")
		return rest
	}
	gw := &p.sdp[relay.Gateway]
	if v := version(refused(sdp.SendOnly, true)); v != 2 {
		t.Fatalf("first re-offer version %d, want 2", v)
	}
	if v := version(refused(sdp.Inactive, true)); v != 3 {
		t.Fatalf("re-offer after a refused one version %d, want 3", v)
	}
	if v := version(refused(sdp.SendOnly, false)); v != 4 {
		t.Fatalf("re-offer after two refused ones version %d, want 4", v)
	}
	// That one never went out: 4 is still free, for the session restored.
	restored := gw.send()
	if v := version(restored); v != 4 || withoutVersion(restored) != withoutVersion(first) {
		t.Fatalf("restored session version %d, want 4, and the SDP first sent:\n%s\nwant\n%s", v, restored, first)
	}
	if again := gw.send(); !bytes.Equal(again, restored) {
		t.Fatalf("the restored session sent again changed:\n%s", again)
	}
	if v := version(refused(sdp.SendOnly, true)); v != 5 {
		t.Fatalf("re-offer after the restored session was sent version %d, want 5", v)
	}
}

package mediation

import (
	"bytes"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mediation-emulator/mediation/mediation/relay"
	"github.com/mediation-emulator/mediation/sdp"
)

// FuzzMediaPlan runs a call's whole offer/answer through the media plan:
// any caller offer and any far-side answer, either direction, every
// combination of the bypass switches, trunk SRTP mode and trunk codec
// list. What it checks, for every input:
//   - nothing panics; a refused offer is a 488 reason or no ports;
//   - every SDP we build parses back (we never send what we cannot read);
//   - the bypass decision follows CCE's rule: never bypassed unless bypass
//     is enabled globally and on the trunk, and (outbound) the client's ID
//     is the deployment's;
//   - the bypass ID never reaches the gateway side, and what the gateway
//     side is offered or answered holds only the trunk's G.711 laws;
//   - the answer to the caller has a direction RFC 3264 §6.1 allows for
//     its offer's, and telephone-event only if the callee's answer has it;
//   - an anchored call's 200 carries the very SDP its 183 did, whatever
//     the callee's 200 answers;
//   - the relay's ports all come back when the plan is closed.
func FuzzMediaPlan(f *testing.F) {
	dir := filepath.Join("..", "testdata", "sdp")
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	sfb, sbcOffer, sbcAnswer := read("sfb-bypass-offer.sdp"), read("sbc-offer-pcma-pcmu.sdp"), read("sbc-answer-pcma.sdp")
	withID, noID := read("sfb-answer-with-bypassid.sdp"), read("sfb-answer-no-bypassid.sdp")
	for flags := range 256 {
		if flags%2 == 0 {
			f.Add(sfb, sbcAnswer, uint8(flags))
		} else {
			f.Add(sbcOffer, withID, uint8(flags))
			f.Add(sbcOffer, noID, uint8(flags))
		}
	}
	for _, name := range []string{"hold-offer.sdp", "no-audio.sdp", "savp-no-crypto.sdp", "rfc3264-video-audio-offer.sdp",
		"sfb-edge-srtp-optional-offer.sdp", "sfb-savp-audio-video-offer.sdp"} {
		f.Add(read(name), sbcAnswer, uint8(0x06))
		f.Add(read(name), withID, uint8(0x07))
	}

	alloc, err := relay.NewAllocator(netip.MustParseAddr("127.0.0.1"), 40000, 40999)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, offerBody, answerBody []byte, flags uint8) {
		planOnce(t, alloc, offerBody, answerBody, flags)
	})
}

// TestMediaPlanSeedsBypass: the fuzz seeds reach media bypass in both
// directions, so that FuzzMediaPlan's bypass checks are not vacuous.
func TestMediaPlanSeedsBypass(t *testing.T) {
	dir := filepath.Join("..", "testdata", "sdp")
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	alloc, err := relay.NewAllocator(netip.MustParseAddr("127.0.0.1"), 41000, 41999)
	if err != nil {
		t.Fatal(err)
	}
	// 0x06: outbound, bypass on, trunk bypass on; 0x07 the same inbound.
	if d := planOnce(t, alloc, read("sfb-bypass-offer.sdp"), read("sbc-answer-pcma.sdp"), 0x06); !d.bypass {
		t.Errorf("outbound seed: %+v, want bypass", d)
	}
	if d := planOnce(t, alloc, read("sbc-offer-pcma-pcmu.sdp"), read("sfb-answer-with-bypassid.sdp"), 0x07); !d.bypass {
		t.Errorf("inbound seed: %+v, want bypass", d)
	}
}

// planBypassID is the deployment's bypass ID in planOnce.
const planBypassID = "0b6b5b5c-3c1f-4b4e-9a43-0d7c1c7a2f10"

// planOnce runs one offer and answer through a media plan with the
// settings flags encodes (see FuzzMediaPlan), checks what FuzzMediaPlan
// promises and returns the bypass decision (the zero decision when the
// offer or answer was refused).
func planOnce(t *testing.T, alloc *relay.Allocator, offerBody, answerBody []byte, flags uint8) decision {
	t.Helper()
	codecLists := [][]string{nil, {"PCMA"}, {"PCMU"}, {"PCMA", "PCMU"}}
	srtpModes := []string{srtpOff, srtpOptional, srtpRequired, srtpOff}
	dir := outbound
	if flags&1 != 0 {
		dir = inbound
	}
	s := BypassSettings{Enabled: flags&2 != 0, AlwaysBypass: true, BypassID: planBypassID}
	trunkBypass := flags&4 != 0
	gwSRTP := srtpModes[flags>>3&3]
	gwCodecs := codecLists[flags>>5&3]
	final := flags&0x80 == 0

	// The fixtures carry their own bypass ID: make the outbound ones
	// match the deployment's, so that bypass is reached.
	offerBody = bytes.ReplaceAll(offerBody, []byte("x-bypassid:"+fixtureBypassID), []byte("x-bypassid:"+planBypassID))
	answerBody = bytes.ReplaceAll(answerBody, []byte("x-bypassid:"+fixtureBypassID), []byte("x-bypassid:"+planBypassID))

	offer, late, err := parseInitialOffer(dir, offerBody)
	if err != nil {
		if !errors.As(err, new(errNotAcceptable)) {
			t.Fatalf("initial offer refused with %T %v, not a 488 reason", err, err)
		}
		return decision{}
	}
	p := mediaPlan{dir: dir, offer: offer, lateOffer: late, log: nopCallLog(), gwSRTP: gwSRTP, gwCodecs: gwCodecs,
		edgeCodecs: []string{"PCMU", "PCMA"}}
	defer func() {
		p.closeRelay()
		if n := alloc.InUse(); n != 0 {
			t.Fatalf("%d port pairs still in use after the plan closed", n)
		}
	}()
	out, err := p.planOffer(s, trunkBypass, alloc)
	if err != nil {
		return decision{} // the call answers it with mediaFailure's code
	}
	callee := relay.Gateway
	if dir == inbound {
		callee = relay.Edge
	}
	checkBuilt(t, "offer to the callee", out, callee, gwCodecs)

	ans, err := p.planAnswer(answerBody, final, "t")
	if err != nil {
		return decision{}
	}
	checkBuilt(t, "answer to the caller", ans, callee.Other(), gwCodecs)
	if !late {
		checkAnswer(t, offer, answerBody, ans)
	}
	if !final && !late && !p.decision.bypass {
		// The callee's 200 answers otherwise (the other law first): the
		// caller gets its 183's answer again.
		other := strings.NewReplacer("PCMU", "PCMA", "PCMA", "PCMU", " 0 8", " 8 0", " 8 0", " 0 8").Replace(string(answerBody))
		if again, err := p.planAnswer([]byte(other), true, "t"); err == nil && !bytes.Equal(again, ans) {
			t.Fatalf("the 200's answer to the caller differs from the 183's:\n%s\n%s", ans, again)
		}
	}
	d := p.decision
	if d.bypass {
		if !s.Enabled || !trunkBypass {
			t.Fatalf("bypassed with bypass enabled=%v, trunk bypass=%v: %+v", s.Enabled, trunkBypass, d)
		}
		if dir == outbound && !offer.HasBypassID(planBypassID) {
			t.Fatalf("outbound call bypassed without the deployment's ID: %+v", d)
		}
		if final && p.relay != nil {
			t.Fatal("a bypassed call kept its relay after the 200")
		}
	}
	return d
}

// checkAnswer checks our answer to the caller's offer against the offer
// and the callee's answer it was built from.
func checkAnswer(t *testing.T, offer sdp.Media, calleeBody, body []byte) {
	t.Helper()
	ours, err := sdp.Parse(body)
	if err != nil {
		return // checkBuilt has said so
	}
	offered := offer.Direction
	if offer.Addr.IsUnspecified() {
		offered = sdp.SendOnly
	}
	if !sdp.AnswerDirectionAllowed(offered, ours.Direction) {
		t.Fatalf("answer %s to an offer %s:\n%s", ours.Direction, offered, body)
	}
	callee, err := sdp.Parse(calleeBody)
	if err != nil {
		return
	}
	_, theirs := callee.TelephoneEvent()
	if _, ok := ours.TelephoneEvent(); ok && !theirs {
		t.Fatalf("telephone-event answered to the caller, the callee has none:\n%s\n%s", calleeBody, body)
	}
}

// fixtureBypassID is the bypass ID the SfB fixtures in testdata/sdp carry.
const fixtureBypassID = "be38f190-a24a-4a72-b66c-b09fd0909ebc"

// checkBuilt checks SDP we built for side: it parses; towards the gateway
// it carries no bypass ID and only the trunk's G.711 laws.
func checkBuilt(t *testing.T, what string, body []byte, side relay.Side, gwCodecs []string) {
	t.Helper()
	m, err := sdp.Parse(body)
	if err != nil {
		t.Fatalf("%s does not parse back: %v\n%s", what, err, body)
	}
	if side != relay.Gateway {
		return
	}
	if m.BypassID != "" || bytes.Contains(body, []byte("x-bypassid")) {
		t.Fatalf("%s to the gateway carries a bypass ID:\n%s", what, body)
	}
	if len(gwCodecs) == 0 {
		gwCodecs = []string{"PCMU", "PCMA"}
	}
	// G.711 towards the gateway, always, in the trunk's laws; besides them
	// only telephone-event and comfort noise.
	for _, c := range m.Codecs {
		allowed := c.IsTelephoneEvent() || strings.EqualFold(c.Name, "CN")
		for _, name := range gwCodecs {
			allowed = allowed || c.Name == name
		}
		if !allowed {
			t.Fatalf("%s to the gateway has %s, the trunk allows %v:\n%s", what, c.Name, gwCodecs, body)
		}
	}
}

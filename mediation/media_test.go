package mediation

import (
	"errors"
	"strings"
	"testing"

	"github.com/mediation-emulator/mediation/mediation/relay"
)

// TestBypassSRTPEndToEnd: with gateway SRTP on, a bypassed call passes the
// keys between client and gateway (media never reaches us to decrypt).
func TestBypassSRTPEndToEnd(t *testing.T) {
	on := BypassSettings{Enabled: true, AlwaysBypass: true, BypassID: fixtureID}
	offer := fixture(t, "sfb-edge-srtp-optional-offer.sdp")
	offer.BypassID = fixtureID
	tests := []struct {
		srtp        string
		wantCrypto  bool
		wantSAVPtoG bool
	}{
		{"off", false, false},
		{"optional", true, false},
		{"required", true, true},
	}
	for _, tt := range tests {
		p := mediaPlan{dir: outbound, offer: offer, gwSRTP: tt.srtp, log: nopCallLog()}
		body, err := p.planOffer(on, true, nil)
		if err != nil || !p.decision.bypass {
			t.Fatalf("%s: bypass %v, err %v", tt.srtp, p.decision.bypass, err)
		}
		toGW := fixtureParse(t, body)
		if (len(toGW.SRTP()) > 0) != tt.wantCrypto || toGW.RequiresSRTP() != tt.wantSAVPtoG {
			t.Fatalf("%s: gateway offer crypto %v, proto %s", tt.srtp, toGW.Crypto, toGW.Proto)
		}
		if tt.wantCrypto && toGW.SRTP()[0].String() != offer.SRTP()[0].String() {
			t.Fatalf("%s: gateway not given the client's own key", tt.srtp)
		}
		ans := strings.Replace(string(fixtureBytes(t, "sbc-answer-pcma.sdp")), "a=sendrecv",
			"a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:wPc6ZtvQBLSMAs2zYkSrt0smBKnHNbyzN2VLC4GV\na=sendrecv", 1)
		toClient, err := p.planAnswer([]byte(ans), true, "t")
		if err != nil {
			t.Fatal(err)
		}
		got := fixtureParse(t, toClient)
		if (len(got.SRTP()) > 0) != tt.wantCrypto {
			t.Fatalf("%s: client answer crypto %v", tt.srtp, got.Crypto)
		}
		if tt.wantCrypto && !strings.Contains(string(toClient), "wPc6ZtvQBLSMAs2zYkSrt0smBKnHNbyzN2VLC4GV") {
			t.Fatalf("%s: client not given the gateway's key:\n%s", tt.srtp, toClient)
		}
	}
}

func fixtureBytes(t *testing.T, name string) []byte {
	t.Helper()
	b, err := readFixture(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestPlanAnswerParsesARepeatOnce: the 200 that repeats its 183's SDP, as
// SBCs send it, is answered from the 183's parse, with the same result;
// a different SDP is parsed anew.
func TestPlanAnswerParsesARepeatOnce(t *testing.T) {
	on := BypassSettings{Enabled: true, AlwaysBypass: true, BypassID: fixtureID}
	offer := fixture(t, "sfb-edge-srtp-optional-offer.sdp")
	offer.BypassID = fixtureID
	p := mediaPlan{dir: outbound, offer: offer, gwSRTP: "off", log: nopCallLog()}
	if _, err := p.planOffer(on, true, nil); err != nil {
		t.Fatal(err)
	}
	ans := fixtureBytes(t, "sbc-answer-pcma.sdp")
	early, err := p.planAnswer(ans, false, "t")
	if err != nil {
		t.Fatal(err)
	}
	parsed := &p.answer.media.Codecs[0]
	final, err := p.planAnswer([]byte(string(ans)), true, "t") // the same SDP in another message
	if err != nil {
		t.Fatal(err)
	}
	if string(final) != string(early) {
		t.Errorf("the 200's answer differs from the 183's:\n%s\n%s", early, final)
	}
	if &p.answer.media.Codecs[0] != parsed {
		t.Error("the repeated SDP was parsed again")
	}
	other := []byte(strings.Replace(string(ans), "a=ptime:20", "a=ptime:30", 1))
	if _, err := p.planAnswer(other, true, "t"); err != nil {
		t.Fatal(err)
	}
	if &p.answer.media.Codecs[0] == parsed {
		t.Error("a different SDP was not parsed")
	}
}

// TestBypassSAVPAnswerWithoutKey: a bypassed client that insists on SRTP
// (RTP/SAVP) keys its media from the answer (RFC 4568): an SBC answer with
// no key matching its offer is no answer to it (RFC 3264 §6), in the first
// exchange and in a re-offer (whose refusal then restores the SBC's earlier
// session). It used to reach the client as an RTP/AVP answer with no key.
func TestBypassSAVPAnswerWithoutKey(t *testing.T) {
	on := BypassSettings{Enabled: true, AlwaysBypass: true, BypassID: fixtureID}
	savp := strings.Replace(string(fixtureBytes(t, "sfb-edge-srtp-optional-offer.sdp")), "RTP/AVP", "RTP/SAVP", 1)
	offer := fixtureParse(t, []byte(savp))
	offer.BypassID = fixtureID
	keyed := strings.Replace(string(fixtureBytes(t, "sbc-answer-pcma.sdp")), "a=sendrecv",
		"a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:wPc6ZtvQBLSMAs2zYkSrt0smBKnHNbyzN2VLC4GV\na=sendrecv", 1)
	keyless := strings.Replace(string(fixtureBytes(t, "sbc-answer-pcma.sdp")), "RTP/AVP", "RTP/SAVP", 1)

	plan := func() mediaPlan {
		p := mediaPlan{dir: outbound, offer: offer, gwSRTP: "optional", log: nopCallLog()}
		if _, err := p.planOffer(on, true, nil); err != nil || !p.decision.bypass {
			t.Fatalf("bypass %v, err %v", p.decision.bypass, err)
		}
		return p
	}
	p := plan()
	if _, err := p.planAnswer([]byte(keyless), true, "t"); !errors.As(err, new(errNotAcceptable)) {
		t.Fatalf("keyless answer to an RTP/SAVP offer: err %v, want a 488 reason", err)
	}

	p = plan()
	if _, err := p.planAnswer([]byte(keyed), true, "t"); err != nil {
		t.Fatal(err)
	}
	ro, _, err := p.reOffer(relay.Edge, offer, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.commit(ro, []byte(keyless), true); !errors.As(err, new(errNotAcceptable)) {
		t.Fatalf("keyless answer to an RTP/SAVP re-offer: err %v, want a 488 reason", err)
	}
	ro, _, err = p.reOffer(relay.Edge, offer, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.commit(ro, []byte(keyed), true); err != nil {
		t.Fatalf("keyed answer to the re-offer: %v", err)
	}
}

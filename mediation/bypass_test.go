package mediation

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/mediation-emulator/mediation/sdp"
)

const fixtureID = "be38f190-a24a-4a72-b66c-b09fd0909ebc"

func readFixture(name string) ([]byte, error) {
	return os.ReadFile(filepath.Join("..", "testdata", "sdp", name))
}

func fixture(t *testing.T, name string) sdp.Media {
	t.Helper()
	body, err := readFixture(name)
	if err != nil {
		t.Fatal(err)
	}
	m, err := sdp.Parse(body)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return m
}

// withCrypto is the fixture name with an a=crypto line of its own added
// after its audio m-line's last attribute (a client accepting SRTP).
func withCrypto(t *testing.T, name string) sdp.Media {
	t.Helper()
	body, err := readFixture(name)
	if err != nil {
		t.Fatal(err)
	}
	keyed := append(bytes.TrimRight(body, "\r\n"), "\r\na=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:IQ+Q4YcN8irlbEovMTkF8LL/uMV0JIGFWrAxrrpY|2^31|1:1\r\n"...)
	m, err := sdp.Parse(keyed)
	if err != nil || len(m.SRTP()) == 0 {
		t.Fatalf("%s with a=crypto: %v (%d keys)", name, err, len(m.SRTP()))
	}
	return m
}

func TestDecideOutbound(t *testing.T) {
	on := BypassSettings{Enabled: true, AlwaysBypass: true, BypassID: fixtureID}
	upper := on
	upper.BypassID = "BE38F190-A24A-4A72-B66C-B09FD0909EBC"
	other := on
	other.BypassID = "2cd1a522-b9c5-4410-8aed-f3eca85eb367"
	off := on
	off.Enabled = false
	withID := func(name string) sdp.Media {
		m := fixture(t, name)
		m.BypassID = fixtureID
		return m
	}
	tests := []struct {
		name     string
		settings BypassSettings
		trunk    bool
		srtp     string
		offer    sdp.Media
		want     bool
		code     string
	}{
		{"matching bypass ID", on, true, "off", fixture(t, "sfb-bypass-offer.sdp"), true, reasonIDMatched},
		{"bypass ID compared case-insensitively", upper, true, "off", fixture(t, "sfb-bypass-offer.sdp"), true, reasonIDMatched},
		{"another deployment's bypass ID", other, true, "off", fixture(t, "sfb-bypass-offer.sdp"), false, reasonIDMismatch},
		{"bypass disabled", off, true, "off", fixture(t, "sfb-bypass-offer.sdp"), false, reasonBypassDisabled},
		{"trunk EnableBypass off", on, false, "off", fixture(t, "sfb-bypass-offer.sdp"), false, reasonTrunkBypassOff},
		{"client without bypass ID (unsupported or external)", on, true, "off", fixture(t, "sfb-edge-srtp-optional-offer.sdp"), false, reasonNoID},
		{"client insists on SRTP, gateway SRTP off", on, true, "off", withID("sfb-savp-audio-video-offer.sdp"), false, reasonSRTPMismatch},
		{"client insists on SRTP, gateway SRTP optional", on, true, "optional", withID("sfb-savp-audio-video-offer.sdp"), true, reasonIDMatched},
		{"optional SRTP client, gateway SRTP off: plain bypass", on, true, "off", withID("sfb-edge-srtp-optional-offer.sdp"), true, reasonIDMatched},
		{"gateway requires SRTP, client offers none", on, true, "required", fixture(t, "sfb-bypass-offer.sdp"), false, reasonSRTPMismatch},
		{"gateway requires SRTP, client offers it", on, true, "required", withID("sfb-edge-srtp-optional-offer.sdp"), true, reasonIDMatched},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := decideOutbound(tt.settings, tt.trunk, tt.srtp, nil, tt.offer)
			if d.bypass != tt.want {
				t.Fatalf("bypass = %v (%s), want %v", d.bypass, d.reason, tt.want)
			}
			if d.reason == "" || d.code != tt.code {
				t.Fatalf("reason %q (%s), want code %s", d.code, d.reason, tt.code)
			}
		})
	}
}

func TestDecideInbound(t *testing.T) {
	on := BypassSettings{Enabled: true, AlwaysBypass: true, BypassID: fixtureID}
	tests := []struct {
		name     string
		settings BypassSettings
		trunk    bool
		answer   string
		want     bool
		code     string
	}{
		{"client answers with the bypass ID", on, true, "sfb-answer-with-bypassid.sdp", true, reasonIDMatched},
		{"client answers without it", on, true, "sfb-answer-no-bypassid.sdp", false, reasonNoID},
		{"bypass disabled: nothing offered", BypassSettings{AlwaysBypass: true, BypassID: fixtureID}, true, "sfb-answer-with-bypassid.sdp", false, reasonBypassDisabled},
		{"trunk EnableBypass off: nothing offered", on, false, "sfb-answer-with-bypassid.sdp", false, reasonTrunkBypassOff},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			offered, none := inboundBypassID(tt.settings, tt.trunk)
			if d := decideInbound(offered, none, fixture(t, tt.answer), true, true); tt.want && (d.bypass || d.code != reasonSRTPMismatch) {
				t.Errorf("%v %s: bypass granted to a client without a=crypto on an SRTP-only gateway", d.bypass, d.code)
			}
			if tt.want {
				// The same client answering with a key of its own: bypass
				// only to a gateway that offered SRTP (end to end).
				keyed := withCrypto(t, tt.answer)
				if d := decideInbound(offered, none, keyed, false, false); d.bypass || d.code != reasonSRTPMismatch {
					t.Errorf("%v %s: bypass granted to a client answering SRTP to a gateway that offered none", d.bypass, d.code)
				}
				if d := decideInbound(offered, none, keyed, false, true); !d.bypass {
					t.Errorf("%v %s: a client answering SRTP to a gateway that offered it was not bypassed", d.bypass, d.code)
				}
			}
			d := decideInbound(offered, none, fixture(t, tt.answer), false, false)
			if d.bypass != tt.want || d.code != tt.code {
				t.Fatalf("bypass = %v %s (%s), want %v %s", d.bypass, d.code, d.reason, tt.want, tt.code)
			}
		})
	}
}

func TestParseOfferRefusals(t *testing.T) {
	tests := []struct {
		file string
		want string
	}{
		{"hold-offer.sdp", reasonHold},
		{"hold-zero-ip.sdp", reasonHold},
		{"no-audio.sdp", "No audio media in the SDP offer"},
		{"not-sdp.txt", "Unparseable SDP offer"},
	}
	for _, tt := range tests {
		body, err := os.ReadFile(filepath.Join("..", "testdata", "sdp", tt.file))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := parseOffer(body); err == nil || err.Error() != tt.want {
			t.Errorf("%s: error %v, want %q", tt.file, err, tt.want)
		}
	}
	if _, err := parseOffer(nil); err == nil {
		t.Error("empty body accepted")
	}
}

func TestSDPLegBumpsVersionOnChange(t *testing.T) {
	l := sdpLeg{origin: sdp.Origin{SessionID: 7, Version: 1}}
	d := sdp.Description{Port: 4000, Codecs: []sdp.Codec{sdp.PCMU}}
	d.Addr = mustAddr("192.0.2.1")
	first := fixtureParse(t, l.marshal(d))
	again := fixtureParse(t, l.marshal(d))
	d.Port = 4002
	changed := fixtureParse(t, l.marshal(d))
	if first.OriginVersion != 1 || again.OriginVersion != 1 || changed.OriginVersion != 2 {
		t.Fatalf("versions %d, %d, %d; want 1, 1, 2", first.OriginVersion, again.OriginVersion, changed.OriginVersion)
	}
	if changed.OriginSessionID != 7 {
		t.Fatalf("session id changed to %d", changed.OriginSessionID)
	}
}

func fixtureParse(t *testing.T, body []byte) sdp.Media {
	t.Helper()
	m, err := sdp.Parse(body)
	if err != nil {
		t.Fatalf("%v in\n%s", err, body)
	}
	return m
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

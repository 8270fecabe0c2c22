package endpoint

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/pion/sdp/v3"
)

// attrValue returns the value of the first a=key of the first audio stream.
func attrValue(t *testing.T, body []byte, key string) string {
	t.Helper()
	md := audioOf(t, body)
	v, _ := md.Attribute(key)
	return v
}

func audioOf(t *testing.T, body []byte) *sdp.MediaDescription {
	t.Helper()
	var desc sdp.SessionDescription
	if err := desc.Unmarshal(body); err != nil {
		t.Fatalf("unmarshal %q: %v", body, err)
	}
	md := firstAudio(&desc)
	if md == nil {
		t.Fatalf("no audio in %q", body)
	}
	return md
}

func attrValues(md *sdp.MediaDescription, key string) []string {
	var out []string
	for _, a := range md.Attributes {
		if a.Key == key {
			out = append(out, a.Value)
		}
	}
	return out
}

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "sdp", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestTemplateIsFixtureA(t *testing.T) {
	if string(readFixture(t, "sfb-bypass-offer.sdp")) != string(sfbTemplate) {
		t.Fatal("sfb-offer.sdp differs from testdata/sdp/sfb-bypass-offer.sdp")
	}
}

func TestParseRemoteFixtures(t *testing.T) {
	cases := []struct {
		file      string
		addr      string
		candidate string
		bypassID  string
		firstG711 string
		eventPT   int
	}{
		{"sfb-bypass-offer.sdp", "192.168.106.63:10406", "192.168.106.63:10406", testBypassID, PCMU, 101},
		{"sfb-edge-srtp-optional-offer.sdp", "10.77.44.43:50052", "10.77.44.43:50052", "", PCMU, 101},
		{"sfb-savp-audio-video-offer.sdp", "192.168.56.1:27100", "192.168.56.1:27100", "", PCMU, 101},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			rm, err := parseRemote(readFixture(t, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if rm.addr.String() != tc.addr || rm.hostCandidate.String() != tc.candidate || rm.bypassID != tc.bypassID {
				t.Errorf("got addr %s, candidate %s, bypass %q", rm.addr, rm.hostCandidate, rm.bypassID)
			}
			f, ok := firstG711(rm.formats)
			if !ok || f.codecName() != tc.firstG711 {
				t.Errorf("first G.711 %+v", f)
			}
			ev, ok := eventFormat(rm.formats)
			if !ok || int(ev.pt) != tc.eventPT || ev.fmtp != "0-16" {
				t.Errorf("telephone-event %+v", ev)
			}
		})
	}
}

func TestParseRemoteErrors(t *testing.T) {
	base := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
	cases := map[string]string{
		"empty":       "",
		"garbage":     "hello world",
		"no s= line":  "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n",
		"no audio":    base + "c=IN IP4 127.0.0.1\r\nm=video 4000 RTP/AVP 96\r\n",
		"audio off":   base + "c=IN IP4 127.0.0.1\r\nm=audio 0 RTP/AVP 0\r\n",
		"no c= line":  base + "m=audio 4000 RTP/AVP 0\r\n",
		"bad address": base + "c=IN IP4 pstn.example\r\nm=audio 4000 RTP/AVP 0\r\n",
		"port range":  base + "c=IN IP4 127.0.0.1\r\nm=audio 70000 RTP/AVP 0\r\n",
	}
	for name, body := range cases {
		if _, err := parseRemote([]byte(body)); err == nil {
			t.Errorf("%s: parsed without error", name)
		}
	}
}

func TestSfBOffer(t *testing.T) {
	local := localMedia{ip: netip.MustParseAddr("127.0.0.1"), rtpPort: 40000, rtcpPort: 40001, ssrc: 1234}
	for _, bypassID := range []string{testBypassID, ""} {
		body, err := sfbSDP{local: local, bypassID: bypassID}.build()
		if err != nil {
			t.Fatal(err)
		}
		text := string(body)
		for _, want := range []string{
			"o=- 0 0 IN IP4 127.0.0.1\r\n", "c=IN IP4 127.0.0.1\r\n",
			"m=audio 40000 RTP/AVP 104 114 9 112 111 0 8 103 116 115 97 13 118 119 101\r\n",
			"a=rtcp:40001\r\n", "a=x-ssrc-range:1234-1234\r\n",
			"a=candidate:1 1 UDP 2130706431 127.0.0.1 40000 typ host\r\n",
			"a=candidate:1 2 UDP 2130705918 127.0.0.1 40001 typ host\r\n",
			"a=rtpmap:0 PCMU/8000\r\n", "a=rtpmap:104 SILK/16000\r\n", "a=fmtp:101 0-16\r\n",
		} {
			if !strings.Contains(text, want) {
				t.Errorf("bypass %q: missing %q in\n%s", bypassID, want, text)
			}
		}
		for _, gone := range []string{"192.168.106.63", "TCP-ACT", "x-candidate-ipv6", "2001:67c"} {
			if strings.Contains(text, gone) {
				t.Errorf("bypass %q: %q still in\n%s", bypassID, gone, text)
			}
		}
		md := audioOf(t, body)
		if got := len(attrValues(md, "candidate")); got != 2 {
			t.Errorf("%d candidates, want 2", got)
		}
		if got := attrValues(md, attrBypassID); !slices.Equal(got, nonEmpty(bypassID)) {
			t.Errorf("a=x-bypassid %v, want %v", got, nonEmpty(bypassID))
		}
		rm, err := parseRemote(body)
		if err != nil || rm.addr != netip.MustParseAddrPort("127.0.0.1:40000") || rm.hostCandidate != rm.addr {
			t.Errorf("own offer parses as %+v, %v", rm, err)
		}
	}
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

func TestSfBAnswerFormats(t *testing.T) {
	local := localMedia{ip: netip.MustParseAddr("::1"), rtpPort: 50000, rtcpPort: 50001, ssrc: 7}
	formats := []format{{pt: 8, name: PCMA, rate: 8000}, {pt: 96, name: telephoneEvent, rate: 8000, fmtp: "0-15"}}
	body, err := sfbSDP{local: local, formats: formats}.build()
	if err != nil {
		t.Fatal(err)
	}
	md := audioOf(t, body)
	if !slices.Equal(md.MediaName.Formats, []string{"8", "96"}) {
		t.Errorf("formats %v", md.MediaName.Formats)
	}
	if got := attrValues(md, "rtpmap"); !slices.Equal(got, []string{"8 PCMA/8000", "96 telephone-event/8000"}) {
		t.Errorf("rtpmap %v", got)
	}
	if got := attrValues(md, "fmtp"); !slices.Equal(got, []string{"96 0-15"}) {
		t.Errorf("fmtp %v", got)
	}
	if !strings.Contains(string(body), "c=IN IP6 ::1\r\n") {
		t.Errorf("no IPv6 c= line in\n%s", body)
	}
	if len(attrValues(md, attrBypassID)) != 0 {
		t.Error("answer without bypass ID carries a=x-bypassid")
	}
}

func TestPlainSDP(t *testing.T) {
	local := localMedia{ip: netip.MustParseAddr("127.0.0.1"), rtpPort: 30000, rtcpPort: 30001}
	formats := []format{staticFormats[8], staticFormats[0], dtmfFormat}
	for _, bypassID := range []string{"", testBypassID} {
		body, err := plainSDP(local, formats, 42, bypassID)
		if err != nil {
			t.Fatal(err)
		}
		rm, err := parseRemote(body)
		if err != nil {
			t.Fatal(err)
		}
		if rm.addr != netip.MustParseAddrPort("127.0.0.1:30000") || rm.bypassID != bypassID {
			t.Errorf("bypass %q: parsed %+v", bypassID, rm)
		}
		if got, _ := preferredG711(rm.formats, []string{PCMU}); got.pt != 0 {
			t.Errorf("PCMU preference picked %+v", got)
		}
		if f, _ := firstG711(rm.formats); f.codecName() != PCMA {
			t.Errorf("first codec %+v, want PCMA", f)
		}
		wantCandidate := netip.AddrPort{}
		if bypassID != "" {
			wantCandidate = rm.addr
		}
		if rm.hostCandidate != wantCandidate {
			t.Errorf("bypass %q: host candidate %s, want %s", bypassID, rm.hostCandidate, wantCandidate)
		}
	}
}

// TestClientPlan checks where an answering client sends media: with a
// matching bypass ID to the offer's first host candidate (the gateway in CCE
// bypass), else to c=/m= (the mediation server).
func TestClientPlan(t *testing.T) {
	offer := func(bypassID string) remoteMedia {
		body := "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n" +
			"m=audio 5000 RTP/AVP 9 0 8 101\r\n" +
			"a=candidate:1 1 TCP-ACT 1684798463 10.0.0.9 5000 typ srflx raddr 10.0.0.9 rport 5000\r\n" +
			"a=candidate:2 1 UDP 2130706431 10.0.0.2 6000 typ host\r\n" +
			"a=candidate:2 2 UDP 2130705918 10.0.0.2 6001 typ host\r\n" +
			"a=candidate:3 1 UDP 2130706430 10.0.0.3 7000 typ host\r\n" +
			"a=rtpmap:101 telephone-event/8000\r\n"
		if bypassID != "" {
			body += "a=x-bypassid:" + bypassID + "\r\n"
		}
		rm, err := parseRemote([]byte(body))
		if err != nil {
			t.Fatal(err)
		}
		return rm
	}
	mediation := netip.MustParseAddrPort("10.0.0.1:5000")
	gateway := netip.MustParseAddrPort("10.0.0.2:6000")
	cases := []struct {
		name             string
		clientID, offerd string
		dest             netip.AddrPort
		bypass           bool
	}{
		{"match", testBypassID, testBypassID, gateway, true},
		{"match ignoring case", testBypassID, strings.ToUpper(testBypassID), gateway, true},
		{"mismatch", testBypassID, "other", mediation, false},
		{"no client ID", "", testBypassID, mediation, false},
		{"no offer ID", testBypassID, "", mediation, false},
	}
	// One parsedSDP across the cases: its memory of the last body must
	// not answer for another one.
	var parsed parsedSDP
	for _, tc := range cases {
		c := &Client{cfg: ClientConfig{BypassID: tc.clientID}}
		p, err := c.plan(offer(tc.offerd))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if p.dest != tc.dest || p.codec.codecName() != PCMU || p.dtmf != 101 {
			t.Errorf("%s: dest %s codec %+v dtmf %d", tc.name, p.dest, p.codec, p.dtmf)
		}
		body, err := p.sdp(localMedia{ip: netip.MustParseAddr("127.0.0.1"), rtpPort: 1000, rtcpPort: 1001})
		if err != nil {
			t.Fatal(err)
		}
		// Twice: parsed, then a copy of the same bytes from memory.
		for _, b := range [][]byte{body, bytes.Clone(body)} {
			if got := parsed.hasBypassID(b); got != tc.bypass {
				t.Errorf("%s: answer has bypass ID: %v, want %v", tc.name, got, tc.bypass)
			}
		}
	}
}

func TestPlansRefuseOffersWithoutG711(t *testing.T) {
	rm, err := parseRemote([]byte("v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n" +
		"m=audio 5000 RTP/AVP 9 104\r\na=rtpmap:104 SILK/16000\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (&Client{}).plan(rm); err == nil {
		t.Error("client accepted an offer without G.711")
	}
	if _, err := (&SBC{cfg: SBCConfig{Codecs: []string{PCMA, PCMU}}}).plan(rm); err == nil {
		t.Error("SBC accepted an offer without G.711")
	}
	rm.formats = append(rm.formats, staticFormats[0])
	if _, err := (&SBC{cfg: SBCConfig{Codecs: []string{PCMA}}}).plan(rm); err == nil {
		t.Error("PCMA-only SBC accepted a PCMU offer")
	}
}

// TestOfferLimitedCodecs: a client limited to some codecs (--codecs)
// offers exactly those, in its order, with SfB's payload types, then SfB's
// comfort noise and telephone-event: none of the codecs it left out, nor
// SfB's others, which it could not decode (r24-media F8: a PCMA-only
// client offered G.722 and PCMU).
func TestOfferLimitedCodecs(t *testing.T) {
	l := localMedia{ip: netip.MustParseAddr("127.0.0.1"), rtpPort: 40000, rtcpPort: 40001}
	for _, tc := range []struct {
		codecs []string
		m      string
	}{
		{[]string{PCMU}, "m=audio 40000 RTP/AVP 0 13 118 119 101\r\n"},
		{[]string{PCMA}, "m=audio 40000 RTP/AVP 8 13 118 119 101\r\n"},
		{[]string{"pcma", G722}, "m=audio 40000 RTP/AVP 8 9 13 118 119 101\r\n"},
		{[]string{G722, PCMU, PCMA}, "m=audio 40000 RTP/AVP 9 0 8 13 118 119 101\r\n"},
	} {
		body, err := sfbSDP{local: l, codecs: tc.codecs}.build()
		if err != nil {
			t.Fatal(err)
		}
		s := string(body)
		if !strings.Contains(s, tc.m) {
			t.Errorf("%v: offer's m= line is not %q:\n%s", tc.codecs, tc.m, s)
		}
		rm, err := parseRemote(body)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, f := range rm.formats {
			names = append(names, strings.ToUpper(f.name))
		}
		for _, name := range []string{G722, PCMU, PCMA} {
			if slices.Contains(names, name) != slices.ContainsFunc(tc.codecs, func(c string) bool { return strings.EqualFold(c, name) }) {
				t.Errorf("%v: offer lists %v", tc.codecs, names)
			}
		}
		for _, other := range []string{"SILK", "G7221", "SIREN", "RED", "x-msrta", "AAL2-G726-32"} {
			if strings.Contains(s, " "+other+"/") {
				t.Errorf("%v: offer keeps %s:\n%s", tc.codecs, other, s)
			}
		}
		if !strings.Contains(s, "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n") || !strings.Contains(s, "a=rtpmap:13 CN/8000") {
			t.Errorf("%v: telephone-event or CN dropped:\n%s", tc.codecs, s)
		}
	}
	// Unlimited: SfB's own offer, every codec of it.
	body, err := sfbSDP{local: l}.build()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(body), "m=audio 40000 RTP/AVP 104 114 9 112 111 0 8 103 116 115 97 13 118 119 101\r\n") {
		t.Errorf("full offer:\n%s", body)
	}
}

// TestSfBBuildLeavesTemplate: build works on a copy of the template parsed
// once, so offers and answers built one after another and at once, each
// changing the codec list, candidates and addresses in its own way, come
// out as apply makes them of a fresh parse of the template, and the
// template itself is unchanged.
func TestSfBBuildLeavesTemplate(t *testing.T) {
	fresh := func(p sfbSDP) string {
		var desc sdp.SessionDescription
		if err := desc.Unmarshal(sfbTemplate); err != nil {
			t.Fatal(err)
		}
		if err := p.apply(&desc); err != nil {
			t.Fatal(err)
		}
		out, err := desc.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	}
	before, err := parsedTemplate()
	if err != nil {
		t.Fatal(err)
	}
	untouched, err := before.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	v4 := localMedia{ip: netip.MustParseAddr("127.0.0.1"), rtpPort: 40000, rtcpPort: 40001, ssrc: 1}
	v6 := localMedia{ip: netip.MustParseAddr("::1"), rtpPort: 50000, rtcpPort: 50001, ssrc: 2}
	cases := []sfbSDP{
		{local: v4, bypassID: testBypassID, codecs: []string{PCMU}},
		{local: v6, formats: []format{{pt: 8, name: PCMA, rate: 8000}}},
		{local: v4, codecs: []string{PCMA, G722}},
		{local: v6, bypassID: testBypassID},
		{local: v4},
	}
	want := make([]string, len(cases))
	for i, p := range cases {
		want[i] = fresh(p)
	}
	for round := 0; round < 2; round++ {
		for i, p := range cases {
			got, err := p.build()
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != want[i] {
				t.Fatalf("round %d case %d: built\n%s\nwant\n%s", round, i, got, want[i])
			}
		}
	}
	// At once, as a load generator's calls build them (-race watches).
	var wg sync.WaitGroup
	errs := make(chan string, 8*len(cases))
	for range 8 {
		for i, p := range cases {
			wg.Go(func() {
				if got, err := p.build(); err != nil || string(got) != want[i] {
					errs <- fmt.Sprintf("case %d built at once: %v\n%s", i, err, got)
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
	after, err := before.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if string(after) != string(untouched) {
		t.Fatalf("the parsed template changed:\n%s\nwas\n%s", after, untouched)
	}
}

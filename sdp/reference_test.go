// Reference implementations: the straightforward code the hot paths of
// this package replaced, kept to check that the fast paths give the same
// results on any input.

package sdp

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	psdp "github.com/pion/sdp/v3"
)

// referenceNewlines is what Parse fed pion before it learnt to pass CRLF
// bodies through: every CRLF and lone CR turned into LF, leading blank
// space dropped, the last line terminated.
func referenceNewlines(body []byte) []byte {
	b := bytes.ReplaceAll(body, []byte("\r\n"), []byte("\n"))
	b = bytes.ReplaceAll(b, []byte("\r"), []byte("\n"))
	b = bytes.TrimLeft(b, " \t\n")
	if !bytes.HasSuffix(b, []byte("\n")) {
		b = append(b, '\n')
	}
	return b
}

// sdpFixtures are the SDP bodies of testdata/sdp, as written (LF).
func sdpFixtures(f *testing.F) [][]byte {
	files, err := filepath.Glob(filepath.Join(fixtureDir, "*.sdp"))
	if err != nil {
		f.Fatal(err)
	}
	out := make([][]byte, 0, len(files))
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// FuzzNewlines checks that Parse reads any body as it reads the body with
// all line endings turned into LF: same Media, same failure class. (The
// position in a pion syntax error may differ: it counts the body's bytes.)
func FuzzNewlines(f *testing.F) {
	for _, b := range sdpFixtures(f) {
		f.Add(b)
		f.Add(bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n")))
		f.Add(bytes.ReplaceAll(b, []byte("\n"), []byte("\r")))
		f.Add(bytes.TrimSuffix(bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n")), []byte("\r\n")))
		f.Add(append([]byte(" \r\n\t\r"), bytes.ReplaceAll(b, []byte("a="), []byte("\r\na="))...))
	}
	f.Add([]byte{})
	f.Add([]byte("\r\n"))
	f.Add([]byte("v=0\r\no=- 0 0 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 1 RTP/AVP 0\r\na=x\rsendonly\r\n"))
	f.Add([]byte("v=0\r\no=- 0 0 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 1 RTP/AVP 0 \r\na=sendonly \r\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		got, gotErr := Parse(body)
		want, wantErr := Parse(referenceNewlines(body))
		if (gotErr == nil) != (wantErr == nil) ||
			errors.Is(gotErr, ErrUnparseable) != errors.Is(wantErr, ErrUnparseable) ||
			errors.Is(gotErr, ErrNoAudio) != errors.Is(wantErr, ErrNoAudio) {
			t.Fatalf("Parse(%q): error %v, with LF line endings %v", body, gotErr, wantErr)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("Parse(%q):\n got %+v\nwant %+v (with LF line endings)", body, got, want)
		}
	})
}

// referenceStatic is the RFC 3551 table as the map it was.
var referenceStatic = func() map[uint8]Codec {
	m := map[uint8]Codec{}
	for _, c := range staticCodecs {
		if c.Name != "" {
			m[c.PT] = c
		}
	}
	return m
}()

// referenceCodecs is codecs as it was: two maps filled from the
// attributes, then the formats looked up in them.
func referenceCodecs(md *psdp.MediaDescription) ([]Codec, error) {
	maps := map[uint8]Codec{}
	fmtps := map[uint8]string{}
	for _, a := range md.Attributes {
		switch a.Key {
		case "rtpmap":
			if c, ok := referenceRtpmap(a.Value); ok {
				maps[c.PT] = c
			}
		case "fmtp":
			if pt, params, ok := parseFmtp(a.Value); ok {
				fmtps[pt] = params
			}
		}
	}
	out := make([]Codec, 0, len(md.MediaName.Formats))
	for _, f := range md.MediaName.Formats {
		pt, ok := parsePT(f)
		if !ok {
			return nil, fmt.Errorf("m=audio format %q is not an RTP payload type", f)
		}
		c, ok := maps[pt]
		if !ok {
			c, ok = referenceStatic[pt]
		}
		if !ok {
			c = Codec{PT: pt}
		}
		c.Fmtp = fmtps[pt]
		out = append(out, c)
	}
	return out, nil
}

// referenceRtpmap is parseRtpmap as it was, with strings.Split.
func referenceRtpmap(v string) (Codec, bool) {
	ptField, enc, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok {
		return Codec{}, false
	}
	pt, ok := parsePT(ptField)
	if !ok {
		return Codec{}, false
	}
	parts := strings.Split(strings.TrimSpace(enc), "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" {
		return Codec{}, false
	}
	rate, err := strconv.ParseUint(parts[1], 10, 32)
	if err != nil {
		return Codec{}, false
	}
	c := Codec{PT: pt, Name: parts[0], Rate: uint32(rate), Channels: 1}
	if len(parts) == 3 {
		ch, err := strconv.Atoi(parts[2])
		if err != nil || ch < 1 {
			return Codec{}, false
		}
		c.Channels = ch
	}
	return c, true
}

// referenceCandidate is parseCandidate as it was, with strings.Fields.
func referenceCandidate(v string) (Candidate, bool) {
	f := strings.Fields(v)
	if len(f) < 8 || f[6] != "typ" {
		return Candidate{}, false
	}
	comp, err := strconv.Atoi(f[1])
	if err != nil || comp < 1 || comp > 256 {
		return Candidate{}, false
	}
	prio, err := strconv.ParseUint(f[3], 10, 32)
	if err != nil {
		return Candidate{}, false
	}
	addr, err := netip.ParseAddr(f[4])
	if err != nil {
		return Candidate{}, false
	}
	port, err := strconv.ParseUint(f[5], 10, 16)
	if err != nil {
		return Candidate{}, false
	}
	return Candidate{Foundation: f[0], Component: comp, Transport: f[2], Priority: uint32(prio), Addr: netip.AddrPortFrom(addr.Unmap(), uint16(port)), Type: f[7]}, true
}

// referenceRTCPPort is rtcpPort as it was, with strings.Fields.
func referenceRTCPPort(md *psdp.MediaDescription, rtp int) (int, error) {
	v, ok := md.Attribute("rtcp")
	if !ok {
		if rtp >= 65535 {
			return 0, fmt.Errorf("m= port %d leaves no room for RTCP", rtp)
		}
		return rtp + 1, nil
	}
	f := strings.Fields(v)
	if len(f) == 0 {
		return 0, errors.New("empty a=rtcp")
	}
	p, err := strconv.Atoi(f[0])
	if err != nil || p < 1 || p > 65535 {
		return 0, fmt.Errorf("a=rtcp:%s: bad port", v)
	}
	return p, nil
}

// FuzzAttributeParsers checks codecs, parseRtpmap, parseCandidate and
// rtcpPort against the versions they replaced (kept here as independent
// references) on every m-line and attribute of any body pion accepts.
func FuzzAttributeParsers(f *testing.F) {
	for _, b := range sdpFixtures(f) {
		f.Add(b)
	}
	f.Add([]byte("v=0\no=- 0 0 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\n" +
		"m=audio 1 RTP/AVP 96 0 96 8 13 127\na=rtpmap:96 opus/48000/2\na=fmtp:96 a=1\na=rtpmap:96 L16/8000\n" +
		"a=fmtp:0 x\na=rtpmap:0 PCMA/8000/1/2\na=rtpmap:8 /8000\na=rtpmap:13 CN/x\na=rtpmap:127 X/8000/0\na=fmtp:96 b=2\n" +
		"a=candidate:1 1 UDP 1 ::ffff:192.0.2.1 9 typ host\u00a0x\na=candidate:1\t1 UDP 1 192.0.2.1 9 typ\vhost\na=rtcp:\u2003 7\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		sd, _, err := unmarshal(body)
		if err != nil {
			return
		}
		for _, md := range sd.MediaDescriptions {
			got, gotErr := codecs(md)
			want, wantErr := referenceCodecs(md)
			if (gotErr == nil) != (wantErr == nil) || !reflect.DeepEqual(got, want) {
				t.Fatalf("codecs(%s): %+v, %v; was %+v, %v", md.MediaName, got, gotErr, want, wantErr)
			}
			gotPort, gotErr := rtcpPort(md, md.MediaName.Port.Value)
			wantPort, wantErr := referenceRTCPPort(md, md.MediaName.Port.Value)
			if gotPort != wantPort || fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
				t.Fatalf("rtcpPort(%s): %d, %v; was %d, %v", md.MediaName, gotPort, gotErr, wantPort, wantErr)
			}
			for _, a := range md.Attributes {
				gotR, gotOK := parseRtpmap(a.Value)
				wantR, wantOK := referenceRtpmap(a.Value)
				if gotOK != wantOK || gotR != wantR {
					t.Fatalf("parseRtpmap(%q) = %+v, %v; was %+v, %v", a.Value, gotR, gotOK, wantR, wantOK)
				}
				gotC, gotOK := parseCandidate(a.Value)
				wantC, wantOK := referenceCandidate(a.Value)
				if gotOK != wantOK || gotC != wantC {
					t.Fatalf("parseCandidate(%q) = %+v, %v; was %+v, %v", a.Value, gotC, gotOK, wantC, wantOK)
				}
			}
		}
	})
}

// referenceMarshal is Description.Marshal as it was: a pion
// SessionDescription built field by field, then pion's Marshal.
func referenceMarshal(d Description) []byte {
	addrType, addr := referenceAddrFields(d.Addr)
	originType, originAddr := addrType, addr
	if d.Origin.Addr.IsValid() {
		originType, originAddr = referenceAddrFields(d.Origin.Addr)
	}
	sd := &psdp.SessionDescription{
		Origin: psdp.Origin{
			Username: "-", SessionID: d.Origin.SessionID, SessionVersion: d.Origin.Version,
			NetworkType: "IN", AddressType: originType, UnicastAddress: originAddr,
		},
		SessionName: sessionName,
		ConnectionInformation: &psdp.ConnectionInformation{
			NetworkType: "IN", AddressType: addrType, Address: &psdp.Address{Address: addr},
		},
		TimeDescriptions: []psdp.TimeDescription{{Timing: psdp.Timing{}}},
	}
	at := min(max(d.AudioIndex, 0), len(d.Rejected))
	for _, l := range d.Rejected[:at] {
		sd.MediaDescriptions = append(sd.MediaDescriptions, referenceRejected(l))
	}
	sd.MediaDescriptions = append(sd.MediaDescriptions, referenceAudio(d))
	for _, l := range d.Rejected[at:] {
		sd.MediaDescriptions = append(sd.MediaDescriptions, referenceRejected(l))
	}
	b, err := sd.Marshal()
	if err != nil {
		return nil
	}
	return b
}

func referenceAudio(d Description) *psdp.MediaDescription {
	protos := []string{"RTP", "AVP"}
	if d.SAVP {
		protos = []string{"RTP", "SAVP"}
	}
	md := &psdp.MediaDescription{MediaName: psdp.MediaName{Media: "audio", Port: psdp.RangedPort{Value: d.Port}, Protos: protos, Formats: []string{}}}
	for _, c := range d.Codecs {
		md.MediaName.Formats = append(md.MediaName.Formats, strconv.Itoa(int(c.PT)))
	}
	add := func(key, value string) {
		md.Attributes = append(md.Attributes, psdp.NewAttribute(key, value))
	}
	for _, c := range d.Codecs {
		v := strconv.Itoa(int(c.PT)) + " " + c.Name + "/" + strconv.FormatUint(uint64(c.Rate), 10)
		if c.Channels > 1 {
			v += "/" + strconv.Itoa(c.Channels)
		}
		add("rtpmap", v)
		if c.Fmtp != "" {
			add("fmtp", strconv.Itoa(int(c.PT))+" "+c.Fmtp)
		}
	}
	if d.Ptime > 0 {
		add("ptime", strconv.Itoa(d.Ptime))
	}
	if d.MaxPtime > 0 {
		add("maxptime", strconv.Itoa(d.MaxPtime))
	}
	if d.RTCPPort > 0 {
		add("rtcp", strconv.Itoa(d.RTCPPort))
	}
	if d.BypassID != "" {
		add("x-bypassid", d.BypassID)
	}
	for _, c := range d.Candidates {
		add("candidate", strings.Join([]string{
			c.Foundation, strconv.Itoa(c.Component), c.Transport, strconv.FormatUint(uint64(c.Priority), 10),
			c.Addr.Addr().String(), strconv.Itoa(int(c.Addr.Port())), "typ", c.Type,
		}, " "))
	}
	for _, c := range d.Crypto {
		add("crypto", referenceCryptoString(c))
	}
	md.Attributes = append(md.Attributes, psdp.NewPropertyAttribute(d.direction()))
	return md
}

func referenceCryptoString(c Crypto) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s inline:%s", c.Tag, c.Suite, base64.StdEncoding.EncodeToString(c.Master))
	if c.Lifetime != "" {
		b.WriteString("|" + c.Lifetime)
	}
	if len(c.MKI) > 0 {
		var v uint64
		for _, x := range c.MKI {
			v = v<<8 | uint64(x)
		}
		fmt.Fprintf(&b, "|%d:%d", v, len(c.MKI))
	}
	return b.String()
}

func referenceRejected(l MLine) *psdp.MediaDescription {
	return &psdp.MediaDescription{MediaName: psdp.MediaName{
		Media: l.Media, Port: psdp.RangedPort{Value: 0}, Protos: strings.Split(l.Proto, "/"), Formats: append([]string(nil), l.Formats...),
	}}
}

func referenceAddrFields(a netip.Addr) (string, string) {
	switch {
	case !a.IsValid():
		return "IP4", "0.0.0.0"
	case a.Unmap().Is4():
		return "IP4", a.Unmap().String()
	default:
		return "IP6", a.String()
	}
}

// TestMarshalPion checks Marshal against pion's rendering of every
// Description the golden cases and the benchmarks make.
func TestMarshalPion(t *testing.T) {
	for _, tc := range goldenCases {
		d, err := tc.build(t)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		d.Origin = Origin{SessionID: 1000, Version: 1}
		if got, want := d.Marshal(), referenceMarshal(d); !bytes.Equal(got, want) {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, got, want)
		}
	}
}

// FuzzMarshalPion checks that Marshal writes, byte for byte, what pion's
// SessionDescription.Marshal wrote for any Description, well-formed or not.
func FuzzMarshalPion(f *testing.F) {
	f.Add(uint64(1000), uint64(1), []byte{192, 0, 2, 1}, 4000, 4001, uint8(8), "PCMA", uint32(8000), 1, "", testBypass, "", 20,
		uint8(2), "1", "UDP", "host", 1, SuiteAES80, "2^31", []byte{1}, false, "video", "RTP/AVP", "34", uint8(1), 0)
	f.Add(^uint64(0), uint64(0), netip.MustParseAddr("2001:db8::1").AsSlice(), 0, 0, uint8(96), "opus", uint32(48000), 2, "useinbandfec=1", "", "SendOnly", 0,
		uint8(0), "", "", "", -3, "", "", []byte(nil), true, "", "", "", uint8(3), 7)
	f.Add(uint64(0), uint64(0), netip.MustParseAddr("::ffff:192.0.2.1").AsSlice(), -1, -5, uint8(127), "", uint32(0), -2, "x\r\ny", "{ab}", "inactive", -20,
		uint8(5), "a b", "TCP-ACT", "srflx\r\n", 999999999, "x", "", []byte{0, 0, 0, 0, 0, 0, 0, 0, 1}, true, "application", "UDP/BFCP", "*", uint8(2), -1)
	f.Add(uint64(5), uint64(6), []byte{}, 1, 2, uint8(0), "PCMU", uint32(8000), 0, "", "", "", 0,
		uint8(1), "1", "UDP", "host", 0, SuiteAES32, "", []byte{}, false, "video", "", "", uint8(4), 2)
	f.Fuzz(func(t *testing.T, sid, ver uint64, addr []byte, port, rtcp int, pt uint8, name string, rate uint32, ch int, fmtp, bypass, dir string, ptime int,
		ncand uint8, foundation, transport, ctype string, tag int, suite, lifetime string, mki []byte, savp bool, media, proto, format string, nrej uint8, index int) {
		a, _ := netip.AddrFromSlice(addr)
		d := Description{
			Origin: Origin{SessionID: sid, Version: ver}, Addr: a, Port: port, RTCPPort: rtcp,
			BypassID: bypass, Direction: dir, Ptime: ptime, MaxPtime: ptime + int(nrej), SAVP: savp, AudioIndex: index,
		}
		if ver&1 == 1 {
			// A leg's origin fixed at an earlier SDP on another address.
			d.Origin.Addr = netip.MustParseAddr("192.0.2.7")
		}
		for i := range int(pt % 4) {
			d.Codecs = append(d.Codecs, Codec{PT: pt + uint8(i), Name: name, Rate: rate + uint32(i), Channels: ch + i, Fmtp: fmtp[:min(i, len(fmtp))]})
		}
		for i := range int(ncand % 5) {
			ap := netip.AddrPortFrom(a, uint16(port+i))
			if i == 3 {
				ap = netip.AddrPort{}
			}
			d.Candidates = append(d.Candidates, Candidate{Foundation: foundation, Component: i, Transport: transport, Priority: uint32(tag + i), Addr: ap, Type: ctype})
		}
		if suite != "" {
			d.Crypto = append(d.Crypto, Crypto{Tag: tag, Suite: suite, Master: addr, Lifetime: lifetime, MKI: mki})
		}
		for i := range int(nrej % 5) {
			l := MLine{Media: media, Port: i, Proto: proto}
			if format != "" {
				l.Formats = []string{format}
			}
			if i%2 == 1 {
				l.Formats = append(l.Formats, format)
			}
			d.Rejected = append(d.Rejected, l)
		}
		if got, want := d.Marshal(), referenceMarshal(d); !bytes.Equal(got, want) {
			t.Fatalf("Marshal(%+v):\n got %q\nwant %q", d, got, want)
		}
	})
}

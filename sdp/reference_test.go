// Reference implementations: the straightforward code the hot paths of
// this package replaced, kept to check that the fast paths give the same
// results on any input.

package sdp

import (
	"bytes"
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

// FuzzNewlines checks that Parse reads any body as it reads the body with
// all line endings turned into LF: same Media, same failure class. (The
// position in a pion syntax error may differ: it counts the body's bytes.)
func FuzzNewlines(f *testing.F) {
	files, err := filepath.Glob(filepath.Join(fixtureDir, "*.sdp"))
	if err != nil {
		f.Fatal(err)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
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
// rtcpPort against the versions they replaced on every m-line and
// attribute of any body pion accepts.
func FuzzAttributeParsers(f *testing.F) {
	files, err := filepath.Glob(filepath.Join(fixtureDir, "*.sdp"))
	if err != nil {
		f.Fatal(err)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("v=0\no=- 0 0 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\n" +
		"m=audio 1 RTP/AVP 96 0 96 8 13 127\na=rtpmap:96 opus/48000/2\na=fmtp:96 a=1\na=rtpmap:96 L16/8000\n" +
		"a=fmtp:0 x\na=rtpmap:0 PCMA/8000/1/2\na=rtpmap:8 /8000\na=rtpmap:13 CN/x\na=rtpmap:127 X/8000/0\na=fmtp:96 b=2\n" +
		"a=candidate:1 1 UDP 1 ::ffff:192.0.2.1 9 typ host\u00a0x\na=candidate:1\t1 UDP 1 192.0.2.1 9 typ\vhost\na=rtcp:\u2003 7\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		sd, err := unmarshal(body)
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
				got, gotOK := parseRtpmap(a.Value)
				want, wantOK := referenceRtpmap(a.Value)
				if gotOK != wantOK || got != want {
					t.Fatalf("parseRtpmap(%q) = %+v, %v; was %+v, %v", a.Value, got, gotOK, want, wantOK)
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

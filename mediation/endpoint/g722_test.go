package endpoint

import (
	"math"
	"testing"

	"github.com/mediation-emulator/mediation/mediation/tone"
)

// TestG722RoundTrip: the tone the client encodes as G.722 is heard at its
// frequency and about its level through the client's own G.722 listener,
// and a new SSRC (a new encoder) starts a fresh decoder.
func TestG722RoundTrip(t *testing.T) {
	for _, hz := range []float64{1000, 440, 1633, 3000} {
		enc, dec := newG722Tone(hz), newG722Listener()
		payload := make([]byte, frameSamples)
		var heard []int16
		for range framesPerSecond {
			if n := enc.frame(payload); n != frameSamples {
				t.Fatalf("%v Hz: frame of %d bytes, want %d", hz, n, frameSamples)
			}
			heard = append(heard, dec.decode(1, payload)...)
		}
		if len(heard) != sampleRate {
			t.Fatalf("%v Hz: %d samples a second, want %d", hz, len(heard), sampleRate)
		}
		if got := tone.Detect(heard, sampleRate); math.Abs(got-hz) > 25 {
			t.Errorf("%v Hz: heard %v Hz", hz, got)
		}
		want := tone.Level(tone.Generate(hz, sampleRate, sampleRate, new(float64)))
		if got := tone.Level(heard[sampleRate/2:]); math.Abs(got-want) > 3 {
			t.Errorf("%v Hz: level %.1f dB, sent %.1f dB", hz, got, want)
		}
	}
}

// TestG722InBandDTMF: keys played in G.722 (as the relay renders RFC 4733
// events to a G.722 leg) are heard in-band through the client's listener,
// once per key press, repeated keys included.
func TestG722InBandDTMF(t *testing.T) {
	const digits = "159#*00D"
	var pcm []int16
	var phase [2]float64
	for _, d := range []byte(digits) {
		code, ok := eventCode(d)
		low, high, okTone := tone.DTMF(code)
		if !ok || !okTone {
			t.Fatalf("no DTMF tones for %q", d)
		}
		key := make([]int16, wideRate/10) // 100 ms
		tone.AddInto(key, low, inbandLevel, wideRate, &phase[0])
		tone.AddInto(key, high, inbandLevel, wideRate, &phase[1])
		pcm = append(pcm, key...)
		pcm = append(pcm, make([]int16, wideRate/10)...) // 100 ms of silence
	}
	enc, dec := newG722Tone(0), newG722Listener()
	var d inbandDetector
	payload := make([]byte, frameSamples)
	for len(pcm) >= 2*frameSamples {
		enc.enc.Encode(payload, pcm[:2*frameSamples])
		pcm = pcm[2*frameSamples:]
		for _, v := range dec.decode(7, payload) {
			d.add(v)
		}
	}
	if string(d.digits) != digits {
		t.Errorf("heard %q in-band, want %q", d.digits, digits)
	}
}

// TestClientCodecChoice: the client takes the first G.711 or mono G.722
// format of an answer (SfB's stereo G.722, PT 117, is not the codec it
// decodes), and a re-offer keeps the call's codec under the re-offer's
// payload type.
func TestClientCodecChoice(t *testing.T) {
	body := []byte("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
		"m=audio 40000 RTP/AVP 117 104 9 0 101\r\na=rtpmap:117 G722/8000/2\r\na=rtpmap:104 SILK/16000\r\n" +
		"a=rtpmap:9 G722/8000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n")
	rm, err := parseRemote(body)
	if err != nil {
		t.Fatal(err)
	}
	f, ok := firstClientCodec(rm.formats)
	if !ok || f.pt != 9 || f.codecName() != G722 {
		t.Fatalf("first client codec %+v, %v; want PT 9 G722", f, ok)
	}
	if g, ok := sameCodec([]format{staticFormats[0], {pt: 96, name: "g722", rate: 8000}}, f); !ok || g.pt != 96 {
		t.Errorf("same codec in a re-offer: %+v, %v; want PT 96", g, ok)
	}
	if _, ok := sameCodec([]format{staticFormats[0], {pt: 117, name: G722, rate: 8000, channels: 2}}, f); ok {
		t.Error("stereo G.722 taken for the call's mono G.722")
	}
}

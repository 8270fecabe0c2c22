package endpoint

import (
	"context"
	"math"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/mediation-emulator/mediation/mediation/tone"
)

// segment is a stretch of test audio: a DTMF key's dual tone (digit), or
// else a sine of hz (0: silence), for ms milliseconds.
type segment struct {
	digit byte
	hz    float64
	ms    int
}

// inbandLevel is the peak of each tone of a rendered digit: volume 10
// (-10 dBm0 for the pair), as our endpoints send and the relay renders.
var inbandLevel = tone.Amplitude0dBm0 * math.Pow(10, (-10-3.01)/20)

// law encodes segments in a G.711 law, 160 bytes per 20 ms frame.
func lawFrames(t *testing.T, law string, segs []segment) [][]byte {
	t.Helper()
	var pcm []int16
	var phase [2]float64
	for _, s := range segs {
		part := make([]int16, s.ms*sampleRate/1000)
		switch {
		case s.digit != 0:
			code, ok := eventCode(s.digit)
			low, high, okTone := tone.DTMF(code)
			if !ok || !okTone {
				t.Fatalf("no DTMF tones for %q", s.digit)
			}
			tone.AddInto(part, low, inbandLevel, sampleRate, &phase[0])
			tone.AddInto(part, high, inbandLevel, sampleRate, &phase[1])
		case s.hz > 0:
			tone.AddInto(part, s.hz, tone.Amplitude, sampleRate, &phase[0])
		}
		pcm = append(pcm, part...)
	}
	encode := encoder(law)
	var frames [][]byte
	for len(pcm) > 0 {
		n := min(frameSamples, len(pcm))
		frame := make([]byte, n)
		for i, v := range pcm[:n] {
			frame[i] = encode(v)
		}
		frames = append(frames, frame)
		pcm = pcm[n:]
	}
	return frames
}

// keyed is digits as a keypad sends them in-band: ms of each key, then
// gap ms of fill (a sine of hz, or silence).
func keyed(digits string, ms, gap int, hz float64) []segment {
	segs := []segment{{hz: hz, ms: 200}}
	for i := range len(digits) {
		segs = append(segs, segment{digit: digits[i], ms: ms}, segment{hz: hz, ms: gap})
	}
	return segs
}

// detectFrames runs the detector over frames decoded with law.
func detectFrames(law string, frames [][]byte) string {
	var d inbandDetector
	decode := decoder(law)
	for _, f := range frames {
		for _, b := range f {
			d.add(decode(b))
		}
	}
	return string(d.digits)
}

// TestInbandDetector: digits in either law are heard once per tone burst,
// repeated keys as often as they were pressed, whatever fills the gaps,
// and nothing else is a digit: not an endpoint's own tone, not silence,
// not a burst shorter than the two windows a digit needs.
func TestInbandDetector(t *testing.T) {
	tests := []struct {
		name string
		segs []segment
		want string
	}{
		{"every key, gaps of 1 kHz", keyed("0123456789*#ABCD", 100, 100, 1000), "0123456789*#ABCD"},
		{"relay timing, 440 Hz", keyed("1234#*", 100, 100, 440), "1234#*"},
		{"repeated keys, silent gaps", keyed("11955", 80, 60, 0), "11955"},
		{"repeated key, one 20 ms gap", []segment{{digit: '1', ms: 100}, {ms: 20}, {digit: '1', ms: 100}}, "11"},
		{"a long press is one digit", keyed("7", 2000, 100, 1000), "7"},
		{"key to key without a gap", []segment{{digit: '2', ms: 100}, {digit: '3', ms: 100}}, "23"},
		{"a 40 ms blip is no digit", keyed("5", 40, 100, 1000), ""},
		{"1 kHz (a client's tone)", []segment{{hz: 1000, ms: 3000}}, ""},
		{"440 Hz (an SBC's tone)", []segment{{hz: 440, ms: 3000}}, ""},
		{"a DTMF row tone alone", []segment{{hz: 770, ms: 1000}}, ""},
		{"silence", []segment{{ms: 3000}}, ""},
	}
	for _, law := range []string{PCMU, PCMA} {
		for _, tt := range tests {
			if got := detectFrames(law, lawFrames(t, law, tt.segs)); got != tt.want {
				t.Errorf("%s, %s: heard %q, want %q", law, tt.name, got, tt.want)
			}
		}
	}
}

// TestInbandDetectorBounded: a long call keeps the detector at one window
// of samples and never allocates per sample.
func TestInbandDetectorBounded(t *testing.T) {
	frames := lawFrames(t, PCMU, keyed("9", 100, 100, 1000))
	var d inbandDetector
	decode := decoder(PCMU)
	allocs := testing.AllocsPerRun(50, func() {
		for _, f := range frames {
			for _, b := range f {
				d.add(decode(b))
			}
		}
		d.digits = d.digits[:0]
	})
	// DetectDTMF's two scratch slices per 20 ms analysis, nothing per sample.
	if perWindow := allocs / float64(len(frames)); perWindow > 3 {
		t.Errorf("%.1f allocations per 20 ms of audio", perWindow)
	}
}

// TestStreamHearsInbandDTMF: a stream on real sockets, negotiated in one
// law with telephone-event, hears digits played in-band in that law and
// RFC 4733 events as events only; a stream with stamped media (a bench's)
// listens for neither tone nor digits.
func TestStreamHearsInbandDTMF(t *testing.T) {
	for _, law := range []string{PCMU, PCMA} {
		t.Run(law, func(t *testing.T) {
			got := streamHears(t, law, nil)
			if got.digitsInBand != "1234#*" || got.digitsReceived != "9" {
				t.Errorf("in-band %q, events %q; want 1234#* and 9", got.digitsInBand, got.digitsReceived)
			}
			if math.Abs(got.detectedHz-1000) > 20 {
				t.Errorf("tone %.0f Hz, want 1000", got.detectedHz)
			}
		})
	}
	t.Run("stamped", func(t *testing.T) {
		if got := streamHears(t, PCMU, &DelayHistogram{}); got.digitsInBand != "" {
			t.Errorf("a bench stream heard in-band %q", got.digitsInBand)
		}
	})
}

// streamHears sends a stream in law: 1 kHz with 1234#* keyed in-band,
// then the event of digit 9 (which would read as a digit's audio if it
// were decoded), and returns what the stream made of it.
func streamHears(t *testing.T, law string, delays *DelayHistogram) mediaStats {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := newStream(netip.MustParseAddr("127.0.0.1"), 440, delays, false, testLog())
	if err != nil {
		t.Fatal(err)
	}
	peer, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	codec, _ := defaultFormat(law)
	const eventPT = 101
	s.Start(peer.LocalAddr().(*net.UDPAddr).AddrPort(), codec, eventPT)
	to := netip.AddrPortFrom(s.local.ip, s.local.rtpPort)
	hdr := rtp.Header{Version: 2, SSRC: 0x1234, PayloadType: codec.pt}
	send := func(payload []byte) {
		t.Helper()
		b, err := (&rtp.Packet{Header: hdr, Payload: payload}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := peer.WriteToUDPAddrPort(b, to); err != nil {
			t.Fatal(err)
		}
		hdr.SequenceNumber++
		hdr.Timestamp += frameSamples
	}
	frames := lawFrames(t, law, keyed("1234#*", 100, 100, 1000))
	for i, f := range frames {
		send(f)
		if i%25 == 24 {
			waitReceived(ctx, t, s, i+1) // no burst beyond the socket buffer
		}
	}
	hdr.PayloadType = eventPT
	for _, end := range []bool{false, true, true, true} {
		send(dtmfEvent{code: 9, end: end, volume: eventVolume, dur: 800}.marshal())
		hdr.Timestamp -= frameSamples // one event: its packets share a timestamp
	}
	waitReceived(ctx, t, s, len(frames))
	for {
		s.mu.Lock()
		events := len(s.decoder.digits)
		s.mu.Unlock()
		if events > 0 {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the event never arrived")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return s.Close()
}

// waitReceived waits until s has received n audio packets.
func waitReceived(ctx context.Context, t *testing.T, s *stream, n int) {
	t.Helper()
	for {
		s.mu.Lock()
		got := s.received
		s.mu.Unlock()
		if got >= n {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("received %d audio packets of %d", got, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

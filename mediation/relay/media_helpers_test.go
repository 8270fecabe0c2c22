package relay

// Test helpers for real audio and SRTP: tones encoded in each codec, the
// decoding of what a peer received, SfB's SDES keys from the fixtures, and
// the SRTP contexts of a simulated client.

import (
	"bytes"
	"encoding/base64"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gotranspile/g722"
	"github.com/mediation-emulator/mediation/mediation/tone"
	"github.com/pion/srtp/v3"
	"github.com/zaf/g711"
)

const (
	frameSamples = 160 // 20 ms at 8 kHz, and the G.722 bytes of 20 ms
	// warmupFrames are left out of tone analysis: the filters and the
	// ADPCM predictors settle within them.
	warmupFrames = 5
)

// rateOf is the sampling rate a codec's payload decodes to.
func rateOf(k codecKind) int {
	if k == kindG722 {
		return 16000
	}
	return 8000
}

// toneFrames returns n 20 ms payloads of a hz tone encoded in k.
func toneFrames(k codecKind, hz float64, n int) [][]byte {
	var phase float64
	var enc *g722.Encoder
	if k == kindG722 {
		enc = g722.NewEncoder(g722Rate, 0)
	}
	frames := make([][]byte, n)
	for i := range frames {
		pcm := tone.Generate(hz, rateOf(k), frameSamples*rateOf(k)/8000, &phase)
		f := make([]byte, frameSamples)
		switch k {
		case kindG722:
			enc.Encode(f, pcm)
		case kindPCMU:
			for j, s := range pcm {
				f[j] = g711.EncodeUlawFrame(s)
			}
		case kindPCMA:
			for j, s := range pcm {
				f[j] = g711.EncodeAlawFrame(s)
			}
		}
		frames[i] = f
	}
	return frames
}

// decodeFrames decodes the payloads of one stream in k to linear PCM at
// rateOf(k).
func decodeFrames(k codecKind, frames [][]byte) []int16 {
	var out []int16
	dec := g722.NewDecoder(g722Rate, 0)
	for _, f := range frames {
		switch k {
		case kindG722:
			pcm := make([]int16, 2*len(f))
			n := dec.Decode(pcm, f)
			out = append(out, pcm[:n]...)
		case kindPCMU:
			for _, b := range f {
				out = append(out, g711.DecodeUlawFrame(b))
			}
		case kindPCMA:
			for _, b := range f {
				out = append(out, g711.DecodeAlawFrame(b))
			}
		}
	}
	return out
}

// checkTone fails unless samples (after the warm-up) carry a tone of wantHz
// at about the level tone.Generate produces.
func checkTone(t testing.TB, samples []int16, rate int, wantHz float64) {
	t.Helper()
	skip := warmupFrames * frameSamples * rate / 8000
	if len(samples) <= skip {
		t.Fatalf("only %d samples received", len(samples))
	}
	samples = samples[skip:]
	got := tone.Detect(samples, rate)
	level := tone.Level(samples)
	// A sine of tone.Amplitude has an RMS level of about -13.3 dBFS.
	want := 20 * math.Log10(tone.Amplitude/math.Sqrt2/32768)
	if math.Abs(got-wantHz) > 15 || math.Abs(level-want) > 2 {
		t.Fatalf("received %.1f Hz at %.1f dBFS, want %.0f Hz at %.1f dBFS", got, level, wantHz, want)
	}
}

// sfbKeying reads the first "a=crypto:2" key of an SfB fixture: the
// AES_CM_128_HMAC_SHA1_80 key with the lifetime and MKI SfB always sends
// ("|2^31|1:1": MKI 1, one byte long).
func sfbKeying(t testing.TB, fixture string) Keying {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "sdp", fixture))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), "a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:")
		if !ok {
			continue
		}
		parts := strings.Split(rest, "|")
		if len(parts) != 3 {
			t.Fatalf("crypto line %q: want key|lifetime|mki", line)
		}
		key, err := base64.StdEncoding.DecodeString(parts[0])
		if err != nil {
			t.Fatal(err)
		}
		value, length, _ := strings.Cut(parts[2], ":")
		v, err1 := strconv.ParseUint(value, 10, 64)
		n, err2 := strconv.Atoi(length)
		if err1 != nil || err2 != nil || n < 1 || n > 8 {
			t.Fatalf("bad MKI %q", parts[2])
		}
		mki := make([]byte, n)
		for i := range n {
			mki[n-1-i] = byte(v >> (8 * i))
		}
		return Keying{Master: key, MKI: mki}
	}
	t.Fatalf("%s has no a=crypto:2 line", fixture)
	return Keying{}
}

// ourKeying is the key the session would put in its own a=crypto.
func ourKeying() Keying {
	k := bytes.Repeat([]byte{0x5a}, 30)
	for i := range k {
		k[i] ^= byte(i * 13)
	}
	return Keying{Master: k, MKI: []byte{1}}
}

// clientCrypto is the SRTP side of a simulated SfB client: it encrypts with
// its own key (the session's Recv) and decrypts with the session's Send key.
type clientCrypto struct {
	rtpOut, rtpIn, rtcpOut, rtcpIn *srtp.Context
}

func newClientCrypto(t testing.TB, cfg *SRTP) *clientCrypto {
	t.Helper()
	profile, err := profileOf(cfg.Profile)
	if err != nil {
		t.Fatal(err)
	}
	mk := func(k Keying) *srtp.Context {
		t.Helper()
		ctx, err := newContext(profile, k)
		if err != nil {
			t.Fatal(err)
		}
		return ctx
	}
	return &clientCrypto{rtpOut: mk(cfg.Recv), rtpIn: mk(cfg.Send), rtcpOut: mk(cfg.Recv), rtcpIn: mk(cfg.Send)}
}

func (c *clientCrypto) encryptRTP(t testing.TB, plain []byte) []byte {
	t.Helper()
	out, err := c.rtpOut.EncryptRTP(nil, plain, nil)
	if err != nil {
		t.Fatalf("client encrypt: %v", err)
	}
	return out
}

func (c *clientCrypto) decryptRTP(t testing.TB, enc []byte) []byte {
	t.Helper()
	out, err := c.rtpIn.DecryptRTP(nil, enc, nil)
	if err != nil {
		t.Fatalf("client cannot decrypt the session's SRTP: %v", err)
	}
	return out
}

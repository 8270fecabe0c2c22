package endpoint

import (
	"bytes"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/rs/zerolog"

	"github.com/mediation-emulator/mediation/mediation/tone"
)

// TestToneFrames: the shared table is one table per tone and law, and its
// frames repeat what send computed one by one before the table existed,
// over a ten-second call: each sample within one G.711 step of it (the
// one-by-one computation accumulates floating-point error in its phase, so
// a sample near a step's edge may round to the next code; the largest step
// is 1,024). A tone the table cannot hold (not a whole number of hertz) has
// none; what a detector hears from the table is the tone.
func TestToneFrames(t *testing.T) {
	for _, hz := range []float64{1000, 440, 697, 1633, 3999, 0} {
		for _, codec := range []string{PCMU, PCMA} {
			table := toneFrames(hz, codec)
			if table == nil {
				t.Fatalf("%v Hz %s: no table", hz, codec)
			}
			if again := toneFrames(hz, codec); again != table {
				t.Fatalf("%v Hz %s: a second table", hz, codec)
			}
			encode, decode := encoder(codec), decoder(codec)
			var phase float64
			pcm := make([]int16, frameSamples)
			for k := range 10 * framesPerSecond {
				tone.GenerateInto(pcm, hz, sampleRate, &phase)
				got := table[k%framesPerSecond]
				for i, v := range pcm {
					if d := int(decode(got[i])) - int(decode(encode(v))); d > 1024 || d < -1024 {
						t.Fatalf("%v Hz %s frame %d sample %d: %d off the computed sample", hz, codec, k, i, d)
					}
				}
			}
		}
	}
	if toneFrames(440.5, PCMU) != nil || toneFrames(-1, PCMU) != nil {
		t.Error("a table for a tone that does not repeat within a second")
	}
	// What a far end's detector hears from the table, played for 3 s.
	table := toneFrames(697, PCMA)
	var samples []int16
	for k := range 3 * framesPerSecond {
		for _, b := range table[k%framesPerSecond] {
			samples = append(samples, decoder(PCMA)(b))
		}
	}
	if got := tone.Detect(samples, sampleRate); got < 687 || got > 707 {
		t.Errorf("the table's 697 Hz detected as %v Hz", got)
	}
}

// TestStreamPlaysToneFrames: a stream sends the table's frames in order,
// packet after packet, past the end of the first second.
func TestStreamPlaysToneFrames(t *testing.T) {
	sink, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	s, err := newStream(netip.MustParseAddr("127.0.0.1"), 697, nil, false, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	pcmu := format{pt: 0, name: PCMU, rate: sampleRate}
	s.Start(sink.LocalAddr().(*net.UDPAddr).AddrPort(), pcmu, -1)
	table := toneFrames(697, PCMU)
	buf := make([]byte, 1500)
	for k := range framesPerSecond + 10 {
		if err := sink.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
			t.Fatal(err)
		}
		n, _, err := sink.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("packet %d: %v", k, err)
		}
		var pkt rtp.Packet
		if err := pkt.Unmarshal(buf[:n]); err != nil {
			t.Fatalf("packet %d: %v", k, err)
		}
		if !bytes.Equal(pkt.Payload, table[k%framesPerSecond][:]) {
			t.Fatalf("packet %d is not the table's frame %d", k, k%framesPerSecond)
		}
	}
}

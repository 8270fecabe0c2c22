package endpoint

import (
	"math/rand/v2"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/rs/zerolog"
	"github.com/zaf/g711"

	"github.com/mediation-emulator/mediation/mediation/arrival"
	"github.com/mediation-emulator/mediation/mediation/tone"
)

// TestStampSurvivesTranscoding: a send time written in one law reads back
// exactly in the same law, and in the other law after a relay converted
// every byte (by g711's tables, as mediation/relay does), both ways; a
// tone, silence, a damaged stamp or a short payload read as no stamp.
func TestStampSurvivesTranscoding(t *testing.T) {
	convert := map[string]func(uint8) uint8{PCMU: g711.Ulaw2AlawFrame, PCMA: g711.Alaw2UlawFrame}
	other := map[string]string{PCMU: PCMA, PCMA: PCMU}
	for _, law := range []string{PCMU, PCMA} {
		for _, ago := range []time.Duration{0, time.Millisecond, 90 * time.Minute} {
			sent := time.Now().Add(-ago)
			payload := make([]byte, frameSamples)
			writeStamp(payload, law, sent)
			if got, ok := readStamp(payload, law); !ok || !got.Equal(stampEpoch.Add(sent.Sub(stampEpoch))) {
				t.Errorf("%s: read %v %v, want %v", law, got, ok, sent)
			}
			relayed := make([]byte, len(payload))
			for i, b := range payload {
				relayed[i] = convert[law](b)
			}
			if got, ok := readStamp(relayed, other[law]); !ok || got.Sub(sent).Abs() > 0 {
				t.Errorf("%s -> %s: read %v %v, want %v", law, other[law], got, ok, sent)
			}
			damaged := slices.Clone(payload)
			damaged[10] = stampSymbols[lawIndex(law)][(stampValues[lawIndex(law)][damaged[10]]+1)%16]
			if _, ok := readStamp(damaged, law); ok {
				t.Errorf("%s: a damaged stamp was read", law)
			}
			if _, ok := readStamp(payload[:stampLen-1], law); ok {
				t.Errorf("%s: a short payload was read", law)
			}
		}
		pcm := make([]int16, frameSamples)
		var phase float64
		enc := encoder(law)
		for range 100 {
			tone.GenerateInto(pcm, 1000, sampleRate, &phase)
			payload := make([]byte, frameSamples)
			for i, v := range pcm {
				payload[i] = enc(v)
			}
			if _, ok := readStamp(payload, law); ok {
				t.Fatalf("%s: a tone read as a stamp", law)
			}
		}
	}
}

// TestDelayHistogram: quantiles are within the buckets' 1/32 of the exact
// nearest-rank ones, never below them, and the max is exact.
func TestDelayHistogram(t *testing.T) {
	var h DelayHistogram
	if h.Quantile(0.5) != 0 || h.Count() != 0 {
		t.Fatal("empty histogram not zero")
	}
	var all []time.Duration
	for range 100000 {
		d := time.Duration(rand.ExpFloat64() * float64(200*time.Microsecond))
		all = append(all, d)
		h.Add(d)
	}
	h.Add(-time.Second) // counted as 0
	all = append(all, 0)
	slices.Sort(all)
	for _, q := range []float64{0.01, 0.5, 0.9, 0.99, 0.999, 1} {
		i := int(q*float64(len(all))+0.999999) - 1
		exact, got := all[max(i, 0)], h.Quantile(q)
		if got < exact || float64(got-exact) > float64(exact)/32+float64(time.Microsecond) {
			t.Errorf("q%v: %v, exact %v", q, got, exact)
		}
	}
	if h.Max() != all[len(all)-1] || h.Count() != uint64(len(all)) {
		t.Errorf("max %v count %d, want %v %d", h.Max(), h.Count(), all[len(all)-1], len(all))
	}
	for _, d := range []time.Duration{0, 1023, 1024, 5e6, 1 << 45} {
		if i := delayBucket(int64(d)); delayUpper(i) < d && i != delayBuckets-1 {
			t.Errorf("%v in bucket %d whose upper bound is %v", d, i, delayUpper(i))
		}
	}
}

// TestStampedCall: a client and an SBC with a shared DelayHistogram,
// calling each other directly, measure the loopback's one-way delay on
// every packet they receive.
func TestStampedCall(t *testing.T) {
	ctx := testContext(t)
	var delays DelayHistogram
	sbc := startSBC(t, ctx, SBCConfig{Delays: &delays})
	client := startClient(t, ctx, ClientConfig{Delays: &delays})
	rep, err := client.Call(ctx, CallOptions{Target: sbc.Addr(), Duration: 500 * time.Millisecond})
	if err != nil || rep.Code != 200 {
		t.Fatalf("call: %d %v", rep.Code, err)
	}
	callee, err := sbc.NextCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := delays.Count()
	if received := rep.PacketsReceived + callee.PacketsReceived; got == 0 || got > uint64(received) || got < uint64(received)*9/10 {
		t.Fatalf("%d delays for %d packets received", got, received)
	}
	if p50, mx := delays.Quantile(0.5), delays.Max(); p50 <= 0 || p50 > mx || mx > 5*time.Second {
		t.Errorf("p50 %v max %v", p50, mx)
	}
	// Stamped media is measured, not analysed: no tone detection.
	if rep.DetectedHz != 0 || callee.DetectedHz != 0 {
		t.Errorf("detected %.0f Hz and %.0f Hz on stamped media, want no detection", rep.DetectedHz, callee.DetectedHz)
	}
}

// TestStreamDelayFromKernelArrival: a stream measuring delays takes each
// packet's arrival from the kernel, so packets that waited in its socket
// while the stream was held up (here: its lock taken, as a busy generator's
// cores would) count the network's delay, not the wait.
func TestStreamDelayFromKernelArrival(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("kernel receive timestamps are Linux's")
	}
	stampsAtArrival(t)
	var h DelayHistogram
	s, err := newStream(netip.MustParseAddr("127.0.0.1"), 1000, &h, false, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tx, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	to := netip.AddrPortFrom(s.local.ip, s.local.rtpPort)
	const n = 5
	hold := 300 * time.Millisecond
	s.mu.Lock()
	for i := range n {
		payload := make([]byte, frameSamples)
		writeStamp(payload, PCMU, time.Now())
		raw, err := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: uint16(i), SSRC: 9}, Payload: payload}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.WriteToUDPAddrPort(raw, to); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(hold) // the scenario: the reader held up while its packets wait
	s.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for h.Count() < n && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if h.Count() != n {
		t.Fatalf("%d delays measured, want %d", h.Count(), n)
	}
	if m := h.Max(); m >= hold/2 {
		t.Errorf("largest delay %v: the time held (%v) counted", m, hold)
	}
}

// stampsAtArrival returns once the kernel stamps datagrams when they
// arrive, and keeps it so for the test. Linux turns the stamping on for
// the whole system when a first socket asks (and off when the last one is
// closed) through deferred work: until then a datagram is stamped when it
// is read. A socket kept open with the option keeps it on.
func stampsAtArrival(t *testing.T) {
	t.Helper()
	rx, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rx.Close() })
	if !arrival.Enable(rx) {
		t.Skip("no receive timestamps")
	}
	tx, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	if err := rx.SetReadDeadline(time.Now().Add(20 * time.Second)); err != nil {
		t.Fatal(err)
	}
	buf, oob := make([]byte, 16), make([]byte, arrival.OOBSize)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if time.Now().After(deadline) {
			t.Fatal("the kernel never stamped a datagram at its arrival")
		}
		sent := time.Now().Round(0) // wall clock, as the kernel's
		if _, err := tx.WriteToUDPAddrPort([]byte("probe"), rx.LocalAddr().(*net.UDPAddr).AddrPort()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond) // the probe waits in the queue
		_, oobn, _, _, err := rx.ReadMsgUDPAddrPort(buf, oob)
		if err != nil {
			t.Fatalf("probe: %v", err)
		}
		// Stamped on arrival: near its send, not 20 ms later at its read
		// (however late this goroutine runs after the read).
		if at, ok := arrival.Time(oob[:oobn]); ok && at.Sub(sent) < 10*time.Millisecond {
			return
		}
	}
}

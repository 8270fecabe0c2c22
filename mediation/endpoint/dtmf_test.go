package endpoint

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
)

func TestEventCodes(t *testing.T) {
	tests := []struct {
		digit byte
		code  uint8
	}{
		{'0', 0}, {'1', 1}, {'2', 2}, {'3', 3}, {'4', 4}, {'5', 5}, {'6', 6}, {'7', 7}, {'8', 8}, {'9', 9},
		{'*', 10}, {'#', 11}, {'A', 12}, {'B', 13}, {'C', 14}, {'D', 15},
	}
	for _, tt := range tests {
		code, ok := eventCode(tt.digit)
		if !ok || code != tt.code {
			t.Errorf("eventCode(%q) = %d, %v; want %d", tt.digit, code, ok, tt.code)
		}
		digit, ok := eventDigit(tt.code)
		if !ok || digit != tt.digit {
			t.Errorf("eventDigit(%d) = %q, %v; want %q", tt.code, digit, ok, tt.digit)
		}
	}
	if code, ok := eventCode('c'); !ok || code != 14 {
		t.Errorf("eventCode('c') = %d, %v; want 14", code, ok)
	}
	for _, d := range []byte{'E', 'e', 'x', ' ', '+'} {
		if _, ok := eventCode(d); ok {
			t.Errorf("eventCode(%q) accepted", d)
		}
	}
	for _, code := range []uint8{16, 32, 255} { // flash, tones: no digits
		if _, ok := eventDigit(code); ok {
			t.Errorf("eventDigit(%d) accepted", code)
		}
	}
}

func TestCheckDigits(t *testing.T) {
	for _, ok := range []string{"", "0123456789*#ABCD", "abcd", "1"} {
		if err := CheckDigits(ok); err != nil {
			t.Errorf("CheckDigits(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"12x", "1 2", "E", "+1", "１"} {
		if err := CheckDigits(bad); !errors.Is(err, ErrBadDigits) {
			t.Errorf("CheckDigits(%q) = %v, want ErrBadDigits", bad, err)
		}
	}
}

func TestEventPayload(t *testing.T) {
	tests := []struct {
		name string
		ev   dtmfEvent
		wire []byte
	}{
		{"first packet of 1", dtmfEvent{code: 1, volume: 10, dur: 160}, []byte{0x01, 0x0a, 0x00, 0xa0}},
		{"end of #", dtmfEvent{code: 11, end: true, volume: 10, dur: 800}, []byte{0x0b, 0x8a, 0x03, 0x20}},
		{"D, loudest, longest", dtmfEvent{code: 15, volume: 0, dur: 0xffff}, []byte{0x0f, 0x00, 0xff, 0xff}},
		{"quietest end", dtmfEvent{code: 0, end: true, volume: 63, dur: 1}, []byte{0x00, 0xbf, 0x00, 0x01}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.ev.marshal(); !bytes.Equal(got, tt.wire) {
				t.Errorf("marshal = % x, want % x", got, tt.wire)
			}
			got, ok := parseEvent(tt.wire)
			if !ok || got != tt.ev {
				t.Errorf("parseEvent = %+v, %v; want %+v", got, ok, tt.ev)
			}
		})
	}
	// The reserved bit is ignored; short payloads are refused.
	if got, ok := parseEvent([]byte{5, 0xca, 0, 160, 9, 9}); !ok || got != (dtmfEvent{code: 5, end: true, volume: 10, dur: 160}) {
		t.Errorf("R bit and trailing bytes: %+v, %v", got, ok)
	}
	if _, ok := parseEvent([]byte{1, 10, 0}); ok {
		t.Error("3-byte payload accepted")
	}
}

// TestPlayerSchedule: per digit, packets of increasing duration, the end
// packet three times, then the pause; the channel closes after the last pause.
func TestPlayerSchedule(t *testing.T) {
	var p dtmfPlayer
	done := p.enqueue("1#")
	type slot struct {
		event  bool
		code   uint8
		dur    uint16
		end    bool
		start  bool
		last   bool
		closed bool // done is closed after this slot
	}
	digit := func(code uint8) []slot {
		return []slot{
			{true, code, 160, false, true, false, false},
			{true, code, 320, false, false, false, false},
			{true, code, 480, false, false, false, false},
			{true, code, 640, false, false, false, false},
			{true, code, 800, true, false, false, false},
			{true, code, 800, true, false, false, false},
			{true, code, 800, true, false, true, false},
		}
	}
	pause := func(closes bool) []slot {
		s := make([]slot, pauseFrames)
		s[pauseFrames-1].closed = closes
		return s
	}
	var want []slot
	want = append(want, digit(1)...)
	want = append(want, pause(false)...)
	want = append(want, digit(11)...)
	want = append(want, pause(true)...)
	want = append(want, slot{closed: true}) // audio from now on
	for i, w := range want {
		f, ok := p.next()
		got := slot{ok, f.ev.code, f.ev.dur, f.ev.end, f.start, f.last, isClosed(done)}
		if ok && f.ev.volume != eventVolume {
			t.Errorf("slot %d: volume %d, want %d", i, f.ev.volume, eventVolume)
		}
		if got != w {
			t.Fatalf("slot %d: %+v, want %+v", i, got, w)
		}
	}
	if p.busy() {
		t.Error("player busy after the schedule")
	}
	if !isClosed(p.enqueue("")) {
		t.Error("nothing to send: channel not closed")
	}
	again := p.enqueue("5")
	p.abandon()
	if !isClosed(again) || p.busy() {
		t.Error("abandon left the waiter blocked or digits queued")
	}
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

func TestDecoder(t *testing.T) {
	ev := func(code uint8, end bool, dur uint16) []byte {
		return dtmfEvent{code: code, end: end, volume: 10, dur: dur}.marshal()
	}
	type pkt struct {
		ssrc, ts uint32
		payload  []byte
	}
	tests := []struct {
		name string
		pkts []pkt
		want string
	}{
		{"one digit with redundant ends", []pkt{
			{1, 100, ev(1, false, 160)}, {1, 100, ev(1, false, 320)}, {1, 100, ev(1, true, 800)}, {1, 100, ev(1, true, 800)}, {1, 100, ev(1, true, 800)},
		}, "1"},
		{"same digit twice", []pkt{{1, 100, ev(5, false, 160)}, {1, 100, ev(5, true, 800)}, {1, 2000, ev(5, false, 160)}, {1, 2000, ev(5, true, 800)}}, "55"},
		{"only end packets arrived", []pkt{{1, 100, ev(11, true, 800)}, {1, 100, ev(11, true, 800)}}, "#"},
		{"every digit", []pkt{
			{1, 0, ev(0, true, 800)}, {1, 1, ev(1, true, 800)}, {1, 2, ev(2, true, 800)}, {1, 3, ev(3, true, 800)},
			{1, 4, ev(4, true, 800)}, {1, 5, ev(5, true, 800)}, {1, 6, ev(6, true, 800)}, {1, 7, ev(7, true, 800)},
			{1, 8, ev(8, true, 800)}, {1, 9, ev(9, true, 800)}, {1, 10, ev(10, true, 800)}, {1, 11, ev(11, true, 800)},
			{1, 12, ev(12, true, 800)}, {1, 13, ev(13, true, 800)}, {1, 14, ev(14, true, 800)}, {1, 15, ev(15, true, 800)},
		}, "0123456789*#ABCD"},
		{"flash is no digit", []pkt{{1, 100, ev(16, true, 800)}, {1, 200, ev(9, true, 800)}}, "9"},
		{"short payload", []pkt{{1, 100, []byte{1, 2}}, {1, 200, ev(2, false, 160)}}, "2"},
		{"new SSRC, same timestamp", []pkt{{1, 100, ev(3, false, 160)}, {2, 100, ev(4, false, 160)}}, "34"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d dtmfDecoder
			for _, p := range tt.pkts {
				d.add(p.ssrc, p.ts, p.payload)
			}
			if got := string(d.digits); got != tt.want {
				t.Errorf("digits %q, want %q", got, tt.want)
			}
		})
	}
}

// TestStreamSendsDTMF reads what a stream puts on the wire: audio and
// events in one SSRC and sequence, each event on one timestamp taken from
// the audio clock, and the pause between digits as audio.
func TestStreamSendsDTMF(t *testing.T) {
	ctx := testContext(t)
	sink, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	s, err := newStream(netip.MustParseAddr("127.0.0.1"), 440, nil, false, testLog())
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			s.Close()
		}
	}()
	s.Start(sink.LocalAddr().(*net.UDPAddr).AddrPort(), staticFormats[8], 101)
	done := s.SendDigits("7*")
	pkts := readUntil(t, ctx, sink, done)
	stats := s.Close()
	closed = true
	if stats.digitsSent != "7*" || stats.eventPT != 101 {
		t.Errorf("stats: digits sent %q, event PT %d; want 7* and 101", stats.digitsSent, stats.eventPT)
	}
	checkDTMFWire(t, pkts, "7*", 8, 101)
}

// readUntil reads RTP from sink until done is closed and one more packet
// (sent after it) arrived.
func readUntil(t *testing.T, ctx context.Context, sink *net.UDPConn, done <-chan struct{}) []rtp.Packet {
	t.Helper()
	deadline, _ := ctx.Deadline()
	if err := sink.SetReadDeadline(deadline); err != nil {
		t.Fatal(err)
	}
	var out []rtp.Packet
	buf := make([]byte, 1500)
	finished := false
	for {
		n, err := sink.Read(buf)
		if err != nil {
			t.Fatalf("read RTP: %v", err)
		}
		var p rtp.Packet
		if err := p.Unmarshal(append([]byte(nil), buf[:n]...)); err != nil {
			t.Fatalf("unmarshal: %v", err)
		}
		out = append(out, p)
		if finished {
			return out
		}
		finished = isClosed(done)
	}
}

// checkDTMFWire checks a packet capture holding the events of digits.
func checkDTMFWire(t *testing.T, pkts []rtp.Packet, digits string, audioPT, eventPT uint8) {
	t.Helper()
	var got []byte
	var lastAudioTS uint32
	haveAudio, pauseRun := false, 0
	for i := 0; i < len(pkts); i++ {
		p := pkts[i]
		if p.SSRC != pkts[0].SSRC {
			t.Fatalf("packet %d: SSRC %x, the stream's is %x", i, p.SSRC, pkts[0].SSRC)
		}
		if i > 0 && p.SequenceNumber != pkts[i-1].SequenceNumber+1 {
			t.Fatalf("packet %d: sequence %d after %d", i, p.SequenceNumber, pkts[i-1].SequenceNumber)
		}
		if p.PayloadType == audioPT {
			if haveAudio && (p.Timestamp-lastAudioTS)%frameSamples != 0 {
				t.Errorf("packet %d: audio timestamp %d after %d", i, p.Timestamp, lastAudioTS)
			}
			lastAudioTS, haveAudio = p.Timestamp, true
			pauseRun++
			continue
		}
		if p.PayloadType != eventPT {
			t.Fatalf("packet %d: PT %d", i, p.PayloadType)
		}
		if len(got) > 0 && pauseRun != pauseFrames {
			t.Errorf("%d audio packets between digits, want %d", pauseRun, pauseFrames)
		}
		pauseRun = 0
		// One event: eventFrames-1 packets without E, then endPackets with E.
		n := eventFrames - 1 + endPackets
		if i+n > len(pkts) {
			t.Fatalf("event at packet %d cut short", i)
		}
		first := pkts[i]
		if !first.Marker {
			t.Errorf("packet %d: first packet of an event without the marker bit", i)
		}
		if haveAudio && (first.Timestamp-lastAudioTS == 0 || (first.Timestamp-lastAudioTS)%frameSamples != 0) {
			t.Errorf("event timestamp %d after audio %d: not the next 20 ms slot", first.Timestamp, lastAudioTS)
		}
		for k := range n {
			q := pkts[i+k]
			ev, ok := parseEvent(q.Payload)
			wantDur := uint16(min(k+1, eventFrames) * frameSamples)
			wantEnd := k >= eventFrames-1
			if !ok || q.PayloadType != eventPT || q.Timestamp != first.Timestamp || ev.dur != wantDur || ev.end != wantEnd ||
				ev.volume != eventVolume || ev.code != first.Payload[0] || (k > 0 && q.Marker) {
				t.Errorf("event packet %d of %d: PT %d ts %d marker %v %+v; want ts %d, duration %d, end %v, volume %d",
					k+1, n, q.PayloadType, q.Timestamp, q.Marker, ev, first.Timestamp, wantDur, wantEnd, eventVolume)
			}
		}
		d, _ := eventDigit(first.Payload[0])
		got = append(got, d)
		i += n - 1
	}
	if string(got) != digits {
		t.Errorf("digits on the wire %q, want %q", got, digits)
	}
}

// TestStreamSkipsDTMFWithoutTelephoneEvent: no telephone-event negotiated,
// no events sent, and the caller is not left waiting.
func TestStreamSkipsDTMFWithoutTelephoneEvent(t *testing.T) {
	ctx := testContext(t)
	sink, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	s, err := newStream(netip.MustParseAddr("127.0.0.1"), 440, nil, false, testLog())
	if err != nil {
		t.Fatal(err)
	}
	s.Start(sink.LocalAddr().(*net.UDPAddr).AddrPort(), staticFormats[0], -1)
	select {
	case <-s.SendDigits("12"):
	case <-ctx.Done():
		t.Fatal("SendDigits without telephone-event blocks")
	}
	// The next 10 slots (200 ms, more than a digit takes) are still audio.
	deadline, _ := ctx.Deadline()
	_ = sink.SetReadDeadline(deadline)
	buf := make([]byte, 1500)
	for range 10 {
		n, err := sink.Read(buf)
		if err != nil {
			t.Fatalf("read RTP: %v", err)
		}
		var p rtp.Packet
		if err := p.Unmarshal(buf[:n]); err != nil || p.PayloadType != 0 {
			t.Errorf("packet PT %d (%v) sent without telephone-event", p.PayloadType, err)
		}
	}
	stats := s.Close()
	if stats.digitsSent != "" || stats.eventPT != -1 || stats.sent == 0 {
		t.Errorf("stats: digits sent %q, event PT %d, audio sent %d", stats.digitsSent, stats.eventPT, stats.sent)
	}
}

// TestDTMFCalls sends digits between the endpoints directly, each way and
// from the answering side, over real loopback sockets. The end that sends
// digits hangs up after 200 ms, less than its digits take: calls last until
// the digits are sent.
func TestDTMFCalls(t *testing.T) {
	const short = 200 * time.Millisecond
	tests := []struct {
		name string
		// sbcCalls places the call from the SBC to the client.
		sbcCalls bool
		sbc      SBCConfig
		client   ClientConfig
		// dtmf is the caller's CallOptions.DTMF; without it the callee sends
		// (its AnswerDTMF) and hangs up.
		dtmf   string
		want   string // digits the other end receives
		wantPT int
	}{
		{name: "client to SBC", dtmf: "123#", want: "123#", wantPT: 101},
		{name: "client to SBC on PT 96", sbc: SBCConfig{TelephoneEventPT: 96}, dtmf: "*9", want: "*9", wantPT: 96},
		{name: "SBC answering on PT 96 sends", sbc: SBCConfig{TelephoneEventPT: 96, AnswerDTMF: "d0", HangupAfter: short}, want: "D0", wantPT: 96},
		{name: "SBC to client", sbcCalls: true, dtmf: "ABCD", want: "ABCD", wantPT: 101},
		{name: "client answering SBC on PT 100 sends", sbcCalls: true, sbc: SBCConfig{TelephoneEventPT: 100},
			client: ClientConfig{AnswerDTMF: "#5", HangupAfter: short}, want: "#5", wantPT: 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testContext(t)
			sbc := startSBC(t, ctx, tt.sbc)
			client := startClient(t, ctx, tt.client)
			opt := CallOptions{Duration: short, DTMF: tt.dtmf, WaitRemoteHangup: tt.dtmf == ""}
			var caller, callee CallReport
			var err error
			if tt.sbcCalls {
				opt.Target = client.Addr()
				if caller, err = sbc.Call(ctx, opt); err == nil {
					callee, err = client.NextCall(ctx)
				}
			} else {
				opt.Target = sbc.Addr()
				if caller, err = client.Call(ctx, opt); err == nil {
					callee, err = sbc.NextCall(ctx)
				}
			}
			if err != nil {
				t.Fatal(err)
			}
			sender, receiver := caller, callee
			if tt.dtmf == "" {
				sender, receiver = callee, caller
			}
			if sender.DigitsSent != tt.want || receiver.DigitsReceived != tt.want {
				t.Errorf("sent %q, received %q; want %q", sender.DigitsSent, receiver.DigitsReceived, tt.want)
			}
			if sender.DigitsReceived != "" || receiver.DigitsSent != "" {
				t.Errorf("the other way: sent %q, received %q; want none", receiver.DigitsSent, sender.DigitsReceived)
			}
			if sender.EndedBy != EndedLocalBye {
				t.Errorf("the sender's call ended by %s, want its own BYE after the digits", sender.EndedBy)
			}
			for _, r := range []CallReport{caller, callee} {
				if r.EventPT != tt.wantPT {
					t.Errorf("%s: telephone-event PT %d, want %d", r.Direction, r.EventPT, tt.wantPT)
				}
				if r.DigitsReceivedInBand != "" {
					t.Errorf("%s: heard %q in-band, from events only", r.Direction, r.DigitsReceivedInBand)
				}
				checkReception(t, r)
			}
		})
	}
}

// TestSBCWithoutTelephoneEvent: an SBC with TelephoneEventPT
// NoTelephoneEvent offers and answers no telephone-event, so neither end
// sends its digits; with EarlyTelephoneEvent its 183 answers the offer's
// telephone-event and its 200 drops it.
func TestSBCWithoutTelephoneEvent(t *testing.T) {
	ctx := testContext(t)
	hasEvents := func(body []byte) bool { return bytes.Contains(body, []byte("telephone-event")) }
	sbc := startSBC(t, ctx, SBCConfig{TelephoneEventPT: NoTelephoneEvent, AnswerDTMF: "5"})
	client := startClient(t, ctx, ClientConfig{AnswerDTMF: "7"})

	caller, err := client.Call(ctx, CallOptions{Target: sbc.Addr(), Duration: 300 * time.Millisecond, DTMF: "12"})
	if err != nil {
		t.Fatal(err)
	}
	callee, err := sbc.NextCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !hasEvents(caller.OfferSDP) || hasEvents(callee.EarlySDP) || hasEvents(callee.AnswerSDP) {
		t.Errorf("offer with events %v, 183 %v, 200 %v; want true, false, false",
			hasEvents(caller.OfferSDP), hasEvents(callee.EarlySDP), hasEvents(callee.AnswerSDP))
	}
	placed, err := sbc.Call(ctx, CallOptions{Target: client.Addr(), Duration: 300 * time.Millisecond, DTMF: "34"})
	if err != nil {
		t.Fatal(err)
	}
	answered, err := client.NextCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if hasEvents(placed.OfferSDP) {
		t.Errorf("the SBC offered telephone-event:\n%s", placed.OfferSDP)
	}
	for _, r := range []CallReport{caller, callee, placed, answered} {
		if r.EventPT != -1 || r.DigitsSent != "" || r.DigitsReceived != "" || r.DigitsReceivedInBand != "" {
			t.Errorf("%s: PT %d, sent %q, received %q, in-band %q; want -1 and nothing", r.Direction,
				r.EventPT, r.DigitsSent, r.DigitsReceived, r.DigitsReceivedInBand)
		}
	}

	early := startSBC(t, ctx, SBCConfig{TelephoneEventPT: NoTelephoneEvent, EarlyTelephoneEvent: true})
	r, err := client.Call(ctx, CallOptions{Target: early.Addr(), Duration: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if !hasEvents(r.EarlySDP) || hasEvents(r.AnswerSDP) {
		t.Errorf("183 with events %v, 200 %v; want true, false", hasEvents(r.EarlySDP), hasEvents(r.AnswerSDP))
	}
	if v183, v200 := originVersion(t, r.EarlySDP), originVersion(t, r.AnswerSDP); v200 != v183+1 {
		t.Errorf("o= version %d in the 183, %d in the 200; want the 200's one higher", v183, v200)
	}
	if _, err := early.NextCall(ctx); err != nil {
		t.Fatal(err)
	}
}

// originVersion is the o= session version of an SDP body.
func originVersion(t *testing.T, body []byte) uint64 {
	t.Helper()
	var d sdp.SessionDescription
	if err := d.Unmarshal(body); err != nil {
		t.Fatalf("%v:\n%s", err, body)
	}
	return d.Origin.SessionVersion
}

// checkReception asserts what a direct loopback call's reception must be:
// no loss, every audio packet within the sequence range, a sane jitter.
func checkReception(t *testing.T, r CallReport) {
	t.Helper()
	if r.PacketsLost != 0 || r.PacketsExpected < r.PacketsReceived || r.PacketsReceived == 0 {
		t.Errorf("%s: expected %d, lost %d, received %d audio packets", r.Direction, r.PacketsExpected, r.PacketsLost, r.PacketsReceived)
	}
	// A sanity bound (TestReceptionJitter checks the arithmetic): on a
	// loaded 2-core machine a receiver late by tens of milliseconds lifts
	// a true jitter of about 1 ms past 20 ms.
	if r.Jitter < 0 || r.Jitter > 100*time.Millisecond {
		t.Errorf("%s: jitter %v", r.Direction, r.Jitter)
	}
}

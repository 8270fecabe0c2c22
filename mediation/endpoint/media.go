package endpoint

import (
	"errors"
	"fmt"
	"github.com/mediation-emulator/mediation/mediation/reception"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/mediation-emulator/mediation/mediation/arrival"
	"github.com/mediation-emulator/mediation/mediation/tone"
	"github.com/pion/rtp"
	"github.com/rs/zerolog"
)

// G.711 framing: 20 ms of 8 kHz audio per packet.
const (
	sampleRate      = 8000
	frameSamples    = 160
	frameInterval   = 20 * time.Millisecond
	maxKeptSamples  = 3 * sampleRate // enough for Detect, bounded for long calls (in-band DTMF: the whole call, inband.go)
	cnPayloadType   = 13
	rtcpMuxLowestPT = 72 // RTCP packet types 200..204 read as PT 72..76 under rtcp-mux
	rtcpMuxHighest  = 76
)

// stream is one call's media: it sends a tone from its RTP socket to the
// peer and reads RTP on the same socket (symmetric RTP, as SfB and SBCs do).
type stream struct {
	log    zerolog.Logger
	rtp    *net.UDPConn
	rtcp   *net.UDPConn
	local  localMedia
	toneHz float64

	// epoch is the origin of arrival times for the jitter estimate.
	epoch time.Time

	mu      sync.Mutex
	dest    netip.AddrPort
	codec   format
	dtmfPT  int // telephone-event PT of the negotiation, -1 if none
	started bool
	silent  bool // Start only records where and how to send
	// delays, when set, has the audio sent stamped (stamp.go) and the
	// delays of the stamped audio received added to it.
	delays *DelayHistogram
	// stamped: the RTP socket gives each packet's kernel arrival time
	// (a stream with delays): on a load generator's busy cores the
	// reading goroutine may wait long for one, and that wait is the
	// generator's, not the relay's.
	stamped  bool
	sent     int
	first    netip.AddrPort
	received int
	recvPT   int
	samples  []int16
	rx       reception.Stats
	player   dtmfPlayer
	sentDTMF []byte
	decoder  dtmfDecoder
	inband   inbandDetector
	// wide decodes received G.722, made when a call first negotiates it.
	wide *g722Listener

	stop chan struct{}
	wg   sync.WaitGroup
}

// mediaStats is what a stream reports when it is closed.
type mediaStats struct {
	to, from, local netip.AddrPort
	codec           string
	sent, received  int
	receivedPT      int
	eventPT         int
	detectedHz      float64
	expected, lost  int
	jitter          time.Duration
	digitsSent      string
	digitsReceived  string
	digitsInBand    string
}

// silentRTPPort is what a silent stream puts in its SDP: the discard
// port, bound by nobody. A load generator's signalling-only calls need no
// sockets: binding two per call ran a 2,500 calls/s run out of
// descriptors before the server was loaded.
const silentRTPPort = 9

// newStream binds an RTP/RTCP pair on ip and starts reading; delays as
// in stream.delays (nil: none). A silent stream binds nothing and never
// sends: its SDP names the discard port.
func newStream(ip netip.Addr, toneHz float64, delays *DelayHistogram, silent bool, log zerolog.Logger) (*stream, error) {
	if silent {
		return &stream{log: log, silent: true, toneHz: toneHz, epoch: time.Now(), dtmfPT: -1, recvPT: -1, stop: make(chan struct{}),
			local: localMedia{ip: ip, rtpPort: silentRTPPort, rtcpPort: silentRTPPort + 1, ssrc: rand.Uint32()}}, nil
	}
	rtpConn, rtcpConn, err := bindMediaPair(ip)
	if err != nil {
		return nil, err
	}
	rtpAddr := rtpConn.LocalAddr().(*net.UDPAddr).AddrPort()
	rtcpAddr := rtcpConn.LocalAddr().(*net.UDPAddr).AddrPort()
	s := &stream{
		log:  log,
		rtp:  rtpConn,
		rtcp: rtcpConn,
		local: localMedia{
			ip:       ip,
			rtpPort:  rtpAddr.Port(),
			rtcpPort: rtcpAddr.Port(),
			ssrc:     rand.Uint32(),
		},
		toneHz: toneHz,
		delays: delays,
		// Before the first packet can arrive, or it would come unstamped.
		stamped: delays != nil && arrival.Enable(rtpConn),
		epoch:   time.Now(),
		dtmfPT:  -1,
		recvPT:  -1,
		stop:    make(chan struct{}),
	}
	s.wg.Add(1)
	go s.receive()
	return s, nil
}

// Start sends the tone to dest with codec from now on; called again (a 200
// after a 183, a re-INVITE) it only changes where and how we send.
func (s *stream) Start(dest netip.AddrPort, codec format, dtmf int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dest, s.codec, s.dtmfPT = dest, codec, dtmf
	if s.started || s.silent {
		return
	}
	s.started = true
	s.wg.Add(1)
	go s.send()
}

// Renegotiate applies a new offer within the call (re-INVITE): media goes to
// its address, with the codec already negotiated, which the offer must still carry.
func (s *stream) Renegotiate(offer []byte, dtmf int) error {
	rm, err := parseRemote(offer)
	if err != nil {
		return err
	}
	s.mu.Lock()
	current, started := s.codec, s.started
	s.mu.Unlock()
	if !started {
		return errors.New("re-offer before the call has media")
	}
	f, ok := sameCodec(rm.formats, current)
	if !ok {
		return fmt.Errorf("re-offer drops %s", current.codecName())
	}
	s.Start(rm.addr, f, dtmf)
	return nil
}

// Close stops both directions, releases the sockets and returns the stats.
// It must be called exactly once.
func (s *stream) Close() mediaStats {
	close(s.stop)
	if s.rtp != nil {
		_ = s.rtp.Close()
		_ = s.rtcp.Close()
	}
	s.wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.player.abandon()
	var hz float64
	if len(s.samples) > 0 {
		// Not called on nothing: Detect's 3 KB frame grew the stack of
		// every closing goroutine of a signalling-only bench.
		hz = tone.Detect(s.samples, sampleRate)
	}
	return mediaStats{
		to:             s.dest,
		from:           s.first,
		local:          netip.AddrPortFrom(s.local.ip, s.local.rtpPort),
		codec:          s.codec.codecName(),
		sent:           s.sent,
		received:       s.received,
		receivedPT:     s.recvPT,
		eventPT:        s.dtmfPT,
		detectedHz:     hz,
		expected:       int(s.rx.TotalExpected()),
		lost:           int(s.rx.TotalLost()),
		jitter:         s.rx.Jitter(),
		digitsSent:     string(s.sentDTMF),
		digitsReceived: string(s.decoder.digits),
		digitsInBand:   string(s.inband.digits),
	}
}

// SendDigits queues DTMF digits (checked by CheckDigits) as RFC 4733
// events on the negotiated telephone-event payload type, in place of the
// audio packets of their slots. The channel is closed once they were sent,
// or at once when the far end negotiated no telephone-event.
func (s *stream) SendDigits(digits string) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dtmfPT < 0 {
		s.log.Warn().Str("digits", digits).Msg("DTMF not sent: the call negotiated no telephone-event")
		return s.player.enqueue("")
	}
	return s.player.enqueue(digits)
}

// send writes one 20 ms packet per tick until stop: audio, or the DTMF
// event of the slot. Timestamps follow the clock, not the packet count, as
// a phone's sampling clock does: a tick the scheduler dropped is a gap in
// the audio, not a shift of everything after it.
func (s *stream) send() {
	defer s.wg.Done()
	ticker := time.NewTicker(frameInterval)
	defer ticker.Stop()
	var (
		phase      float64
		played     int // audio frames so far: the tone's position
		table      *toneTable
		tableCodec string
		pcm              = make([]int16, frameSamples)
		payload          = make([]byte, frameSamples)
		buf              = make([]byte, 12+frameSamples)
		start            = time.Now()
		baseTS           = rand.Uint32()
		slot       int64 = -1
		eventTS    uint32
		hdr        = rtp.Header{Version: 2, Marker: true, SSRC: s.local.ssrc, SequenceNumber: uint16(rand.Uint32())}
	)
	var wide *g722Tone // made when a call first negotiates G.722
	for {
		select {
		case <-s.stop:
			return
		case now := <-ticker.C:
			slot = max(slot+1, int64(now.Sub(start)/frameInterval))
		}
		hdr.Timestamp = baseTS + uint32(slot)*frameSamples
		s.mu.Lock()
		dest, codec, dtmfPT := s.dest, s.codec, s.dtmfPT
		frame, isEvent := s.nextEvent()
		s.mu.Unlock()
		pkt := rtp.Packet{Header: hdr}
		if isEvent {
			if frame.start {
				eventTS = hdr.Timestamp
			}
			pkt.Marker, pkt.Timestamp = frame.start, eventTS
			pkt.PayloadType, pkt.Payload = uint8(dtmfPT), frame.ev.marshal()
		} else {
			switch {
			case codec.isG722():
				if wide == nil {
					wide = newG722Tone(s.toneHz)
				}
				wide.frame(payload)
			default:
				if codec.name != tableCodec {
					// Looked up again only when the codec changes.
					table, tableCodec = toneFrames(s.toneHz, codec.name), codec.name
				}
				if table != nil {
					copy(payload, table[played%framesPerSecond][:])
				} else {
					encodeTone(payload, pcm, s.toneHz, codec.name, &phase)
				}
			}
			played++
			pkt.PayloadType, pkt.Payload = codec.pt, payload
			if s.delays != nil && codec.isG711() {
				// G.711 only: the stamp's symbols survive a law
				// conversion, not a transcoding through G.722.
				writeStamp(payload, codec.codecName(), time.Now())
			}
		}
		err := s.write(&pkt, buf, dest)
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			// ICMP unreachable and the like: a real phone keeps sending too.
			s.log.Debug().Err(err).Stringer("to", dest).Msg("rtp send failed")
		}
		s.mu.Lock()
		if isEvent && frame.last {
			s.sentDTMF = append(s.sentDTMF, dtmfDigits[frame.ev.code])
		} else if !isEvent && err == nil {
			s.sent++
		}
		s.mu.Unlock()
		hdr.Marker = false
		hdr.SequenceNumber++
	}
}

// nextEvent returns the DTMF frame of this slot, if any; s.mu is held.
// Digits queued when telephone-event is no longer negotiated are dropped.
func (s *stream) nextEvent() (eventFrame, bool) {
	if !s.player.busy() {
		return eventFrame{}, false
	}
	if s.dtmfPT < 0 {
		s.player.abandon()
		return eventFrame{}, false
	}
	return s.player.next()
}

// write marshals pkt into buf and sends it to dest.
func (s *stream) write(pkt *rtp.Packet, buf []byte, dest netip.AddrPort) error {
	n, err := pkt.MarshalTo(buf)
	if err != nil {
		return fmt.Errorf("marshal rtp: %w", err)
	}
	_, err = s.rtp.WriteToUDPAddrPort(buf[:n], dest)
	return err
}

// receive records every RTP packet until the socket is closed.
func (s *stream) receive() {
	defer s.wg.Done()
	buf := make([]byte, 2048)
	var pkt rtp.Packet
	var oob []byte
	if s.stamped {
		oob = make([]byte, arrival.OOBSize)
	}
	for {
		n, oobn, from, err := arrival.ReadFrom(s.rtp, buf, oob)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			select {
			case <-s.stop:
				return
			default:
			}
			// ICMP errors of our own sends surface here on some systems; keep reading.
			s.log.Debug().Err(err).Msg("rtp read failed")
			continue
		}
		if err := pkt.Unmarshal(buf[:n]); err != nil || pkt.Version != 2 {
			continue // STUN, garbage
		}
		at := time.Now()
		if lag, ok := arrival.Age(oob[:oobn], at); ok {
			// Now less how long ago the kernel stamped it: at keeps its
			// monotonic reading for the subtractions in record.
			at = at.Add(-lag)
		}
		s.record(from, &pkt, at)
	}
}

// record accounts one received RTP packet: its source, loss and jitter,
// a DTMF event, or audio samples for the tone and in-band DTMF detectors.
func (s *stream) record(from netip.AddrPort, pkt *rtp.Packet, at time.Time) {
	pt := int(pkt.PayloadType)
	if pt >= rtcpMuxLowestPT && pt <= rtcpMuxHighest {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.first.IsValid() {
		s.first = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
	}
	event := pt == s.dtmfPT
	audio := !event && pt != cnPayloadType
	s.rx.Update(&pkt.Header, at.Sub(s.epoch), audio)
	if event {
		s.decoder.add(pkt.SSRC, pkt.Timestamp, pkt.Payload)
	}
	if !audio {
		return
	}
	s.received++
	if s.delays != nil {
		// The relay may have converted the stamp from the other law: read
		// it in the law of the packet's static payload type, which early
		// media may carry before we know the negotiated one.
		law := ""
		switch {
		case pt == int(staticFormats[0].pt):
			law = PCMU
		case pt == int(staticFormats[8].pt):
			law = PCMA
		case s.started && s.codec.isG711():
			law = s.codec.codecName()
		}
		if law != "" {
			if sent, ok := readStamp(pkt.Payload, law); ok {
				s.delays.Add(at.Sub(sent))
			}
		}
	}
	if s.recvPT < 0 {
		s.recvPT = pt
	}
	// Stamped media (delays) is measured, not listened to: its payloads
	// are not a pure tone, and detecting one (some 20 ms of CPU a call, at
	// the end) made the load generator its own bottleneck.
	if s.delays != nil || !s.started {
		return
	}
	// Decode with the negotiated law, not the packet's PT: a relay that sends
	// the wrong codec must show up as a wrong tone. Events (on dtmfPT)
	// never get here, so a digit received as one is not in-band too.
	keep := len(s.samples) < maxKeptSamples
	if s.codec.isG722() {
		if s.wide == nil {
			s.wide = newG722Listener()
		}
		for _, v := range s.wide.decode(pkt.SSRC, pkt.Payload) {
			s.inband.add(v)
			if keep {
				s.samples = append(s.samples, v)
			}
		}
		return
	}
	decode := decoder(s.codec.name)
	for _, b := range pkt.Payload {
		v := decode(b)
		s.inband.add(v)
		if keep {
			s.samples = append(s.samples, v)
		}
	}
}

package endpoint

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/mediation-emulator/mediation/mediation/tone"
	"github.com/pion/rtp"
	"github.com/rs/zerolog"
)

// G.711 framing: 20 ms of 8 kHz audio per packet.
const (
	sampleRate      = 8000
	frameSamples    = 160
	frameInterval   = 20 * time.Millisecond
	maxKeptSamples  = 3 * sampleRate // enough for Detect, bounded for long calls
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

	mu       sync.Mutex
	dest     netip.AddrPort
	codec    format
	dtmfPT   int // telephone-event PT of the negotiation, -1 if none
	started  bool
	sent     int
	first    netip.AddrPort
	received int
	recvPT   int
	samples  []int16

	stop chan struct{}
	wg   sync.WaitGroup
}

// mediaStats is what a stream reports when it is closed.
type mediaStats struct {
	to, from, local netip.AddrPort
	codec           string
	sent, received  int
	receivedPT      int
	detectedHz      float64
}

// newStream binds an RTP/RTCP pair on ip and starts reading.
func newStream(ip netip.Addr, toneHz float64, log zerolog.Logger) (*stream, error) {
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
		dtmfPT: -1,
		recvPT: -1,
		stop:   make(chan struct{}),
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
	if s.started {
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
	f, ok := preferredG711(rm.formats, []string{current.name})
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
	_ = s.rtp.Close()
	_ = s.rtcp.Close()
	s.wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	return mediaStats{
		to:         s.dest,
		from:       s.first,
		local:      netip.AddrPortFrom(s.local.ip, s.local.rtpPort),
		codec:      s.codec.codecName(),
		sent:       s.sent,
		received:   s.received,
		receivedPT: s.recvPT,
		detectedHz: tone.Detect(s.samples, sampleRate),
	}
}

// send writes one 20 ms packet per tick until stop.
func (s *stream) send() {
	defer s.wg.Done()
	ticker := time.NewTicker(frameInterval)
	defer ticker.Stop()
	var (
		phase   float64
		pcm     = make([]int16, frameSamples)
		payload = make([]byte, frameSamples)
		buf     = make([]byte, 12+frameSamples)
		hdr     = rtp.Header{Version: 2, Marker: true, SSRC: s.local.ssrc,
			SequenceNumber: uint16(rand.Uint32()), Timestamp: rand.Uint32()}
	)
	for {
		select {
		case <-s.stop:
			return
		case <-ticker.C:
		}
		s.mu.Lock()
		dest, codec := s.dest, s.codec
		s.mu.Unlock()
		tone.GenerateInto(pcm, s.toneHz, sampleRate, &phase)
		encode := encoder(codec.name)
		for i, v := range pcm {
			payload[i] = encode(v)
		}
		hdr.PayloadType = codec.pt
		pkt := rtp.Packet{Header: hdr, Payload: payload}
		n, err := pkt.MarshalTo(buf)
		if err == nil {
			_, err = s.rtp.WriteToUDPAddrPort(buf[:n], dest)
		}
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// ICMP unreachable and the like: a real phone keeps sending too.
			s.log.Debug().Err(err).Stringer("to", dest).Msg("rtp send failed")
		} else {
			s.mu.Lock()
			s.sent++
			s.mu.Unlock()
		}
		hdr.Marker = false
		hdr.SequenceNumber++
		hdr.Timestamp += frameSamples
	}
}

// receive records every RTP packet until the socket is closed.
func (s *stream) receive() {
	defer s.wg.Done()
	buf := make([]byte, 2048)
	var pkt rtp.Packet
	for {
		n, from, err := s.rtp.ReadFromUDPAddrPort(buf)
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
		s.record(from, &pkt)
	}
}

func (s *stream) record(from netip.AddrPort, pkt *rtp.Packet) {
	pt := int(pkt.PayloadType)
	if pt >= rtcpMuxLowestPT && pt <= rtcpMuxHighest {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.first.IsValid() {
		s.first = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
	}
	if pt == s.dtmfPT || pt == cnPayloadType {
		return
	}
	s.received++
	if s.recvPT < 0 {
		s.recvPT = pt
	}
	if !s.started || len(s.samples) >= maxKeptSamples {
		return
	}
	// Decode with the negotiated law, not the packet's PT: a relay that sends
	// the wrong codec must show up as a wrong tone.
	decode := decoder(s.codec.name)
	for _, b := range pkt.Payload {
		s.samples = append(s.samples, decode(b))
	}
}

package relay

// This file terminates RTCP per leg. The relay rewrites SSRCs, sequence
// numbers and timestamps, so a peer's reports describe a stream the other
// peer never sees: instead of relaying them, each side reads its peer's
// reports (for the round-trip time and the LSR/DLSR of ours) and gets our
// own SR or RR about the streams on that leg.

import (
	"net/netip"
	"time"

	"github.com/pion/rtcp"
)

const (
	// ntpEpochOffset is 1970-01-01 in seconds since the NTP epoch (1900).
	ntpEpochOffset = 2208988800
	// rtcpHeaderLen is the common header every RTCP packet starts with.
	rtcpHeaderLen = 8
)

// ntpTime converts t to the 64-bit NTP format of sender reports.
func ntpTime(t time.Time) uint64 {
	secs := uint64(t.Unix()) + ntpEpochOffset
	frac := (uint64(t.Nanosecond()) << 32) / uint64(time.Second)
	return secs<<32 | frac
}

// ntpMiddle is the middle 32 bits of an NTP time (16.16 fixed point
// seconds), the unit of LSR, DLSR and round-trip computations.
func ntpMiddle(ntp uint64) uint32 { return uint32(ntp >> 16) }

// shortNTP converts 16.16 fixed-point seconds to a duration.
func shortNTP(v uint32) time.Duration {
	return time.Duration(int64(v) * int64(time.Second) >> 16)
}

// readRTCP reads the RTCP of side x's peer.
func (s *Session) readRTCP(x Side) {
	defer s.wg.Done()
	conn, l := s.pairs[x].RTCP, &s.legs[x]
	buf := readBuffer()
	for {
		n, src, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if s.readFailed(x, "rtcp", err) {
				return
			}
			continue
		}
		s.tapped(true, s.pairs[x].RTCPAddr(), unmap(src), buf[:n])
		wall := time.Now()
		l.rtcpReceived.Add(1)
		l.rtcpReceivedBytes.Add(uint64(n))
		if tooLarge(n) {
			s.dropped(x, DropMalformed, -1)
			continue
		}
		if r := s.handleRTCP(x, buf[:n], unmap(src), wall); r != dropNone {
			s.dropped(x, r, -1)
		}
	}
}

// handleRTCP checks, decrypts and reads one RTCP datagram of side x
// received at wall.
func (s *Session) handleRTCP(x Side, datagram []byte, src netip.AddrPort, wall time.Time) DropReason {
	l := &s.legs[x]
	from := l.peer.Load()
	if from == nil {
		return DropNoPeer
	}
	latching := s.opts.latching
	now := wall.Sub(s.epoch)
	if latching && !l.rtcpLatch.accepts(from, from.rtcp, src, now) {
		return DropForeign
	}
	if len(datagram) < rtcpHeaderLen || datagram[0]>>6 != rtpVersion {
		return notRTP(datagram)
	}
	if from.srtp != nil {
		plain, err := from.srtp.decryptRTCP(datagram)
		if err != nil {
			return DropDecrypt
		}
		datagram = plain
	}
	pkts, err := rtcp.Unmarshal(datagram)
	if err != nil {
		return DropMalformed
	}
	if latching {
		if old, moved := l.rtcpLatch.commit(from, src, now); moved {
			s.relatched(x, "rtcp", old, src)
		}
	}
	l.hear(now)
	for _, p := range pkts {
		switch p := p.(type) {
		case *rtcp.SenderReport:
			l.recv.senderReport(p.NTPTime, now)
			s.readBlocks(x, p.Reports, wall)
		case *rtcp.ReceiverReport:
			s.readBlocks(x, p.Reports, wall)
		}
	}
	return dropNone
}

// readBlocks takes the round-trip time from the peer's report block about
// our stream (RFC 3550 6.4.1: arrival - LSR - DLSR).
func (s *Session) readBlocks(x Side, blocks []rtcp.ReceptionReport, wall time.Time) {
	for _, b := range blocks {
		if b.SSRC != s.ssrc[x] || b.LastSenderReport == 0 {
			continue
		}
		rtt := ntpMiddle(ntpTime(wall)) - b.LastSenderReport - b.Delay
		if int32(rtt) < 0 {
			// A peer's clock error or a bogus DLSR; not a round trip.
			continue
		}
		s.legs[x].rtt.Store(int64(shortNTP(rtt)))
	}
}

// sendReports sends our report to each side's peer.
func (s *Session) sendReports() {
	for _, side := range []Side{Edge, Gateway} {
		s.sendReport(side, time.Now())
	}
}

// sendReport sends our compound RTCP packet to side y's peer: an SR when we
// have sent it RTP (else an RR), with a reception block about its stream,
// and an SDES CNAME (RFC 3550 6.1 requires one in every compound packet).
func (s *Session) sendReport(y Side, wall time.Time) {
	s.sendRTCP(y, s.buildReport(y, wall))
}

// sendGoodbyes sends each peer our last report with an RTCP BYE for our
// stream to it (RFC 3550 §6.6), as the call's media ends: SBCs close their
// stream statistics and CDR quality fields on it. A peer we never sent
// RTP or RTCP gets none (§6.3.7). Called by Close once the readers and
// timers stopped, before the sockets close.
func (s *Session) sendGoodbyes() {
	wall := time.Now()
	for _, y := range []Side{Edge, Gateway} {
		l := &s.legs[y]
		if l.rtpSent.Load() == 0 && l.rtcpSent.Load() == 0 {
			continue
		}
		s.sendRTCP(y, append(s.buildReport(y, wall), &rtcp.Goodbye{Sources: []uint32{s.ssrc[y]}}))
	}
}

// sendRTCP sends the compound packet pkts to side y's peer, if it has an
// RTCP address.
func (s *Session) sendRTCP(y Side, pkts []rtcp.Packet) {
	l := &s.legs[y]
	p := l.peer.Load()
	if p == nil {
		return
	}
	dst, ok := l.rtcpDest(p, s.opts.latching)
	if !ok {
		return
	}
	raw, err := rtcp.Marshal(pkts)
	if err != nil {
		s.logger().Warn().Err(err).Stringer("side", y).Msg("relay RTCP report not built")
		return
	}
	if p.srtp != nil {
		buf := make([]byte, len(raw), len(raw)+srtpHeadroom)
		copy(buf, raw)
		if raw, err = encryptRTCP(p.srtp.rtcpOut, buf); err != nil {
			s.dropped(y, DropSendFailed, -1)
			return
		}
	}
	s.tapped(false, s.pairs[y].RTCPAddr(), dst, raw)
	if _, err := s.pairs[y].RTCP.WriteToUDPAddrPort(raw, dst); err != nil {
		s.dropped(y, DropSendFailed, -1)
		return
	}
	l.rtcpSent.Add(1)
	l.rtcpSentBytes.Add(uint64(len(raw)))
}

// buildReport returns the packets of our report to side y at wall.
func (s *Session) buildReport(y Side, wall time.Time) []rtcp.Packet {
	l := &s.legs[y]
	now := wall.Sub(s.epoch)
	ssrc := s.ssrc[y]
	var blocks []rtcp.ReceptionReport
	if rr, ok := l.recv.report(now); ok {
		blocks = append(blocks, rr)
	}
	var report rtcp.Packet = &rtcp.ReceiverReport{SSRC: ssrc, Reports: blocks}
	if packets, octets, ts, ok := l.send.info(now); ok {
		report = &rtcp.SenderReport{
			SSRC: ssrc, NTPTime: ntpTime(wall), RTPTime: ts,
			PacketCount: packets, OctetCount: octets, Reports: blocks,
		}
	}
	return []rtcp.Packet{report, rtcp.NewCNAMESourceDescription(ssrc, s.cname)}
}

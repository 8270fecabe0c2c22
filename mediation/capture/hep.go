package capture

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
)

// HEPv3 (Homer's capture protocol, as Kamailio's sipcapture, FreeSWITCH,
// OpenSIPS and rtpengine send it): one UDP datagram per captured message,
// "HEP3", the total length, then chunks of vendor 0 (type, length, value).
const (
	hepFamily    = 0x0001 // uint8: 2 IPv4, 10 IPv6
	hepProto     = 0x0002 // uint8: IP protocol (17 UDP, 6 TCP)
	hepSrcIPv4   = 0x0003
	hepDstIPv4   = 0x0004
	hepSrcIPv6   = 0x0005
	hepDstIPv6   = 0x0006
	hepSrcPort   = 0x0007 // uint16
	hepDstPort   = 0x0008 // uint16
	hepTimeSec   = 0x0009 // uint32
	hepTimeUsec  = 0x000a // uint32
	hepProtoType = 0x000b // uint8: 1 SIP
	hepCaptureID = 0x000c // uint32
	hepPayload   = 0x000f
	hepCorrelate = 0x0011 // the Call-ID
)

// HEP sends packets to a HEPv3 collector over UDP, from a goroutine of its
// own.
type HEP struct {
	conn *net.UDPConn
	to   netip.AddrPort
	id   uint32
	q    *queue
	done chan struct{}
	err  error
}

// DialHEP sends to collector, with captureID as the agent id.
func DialHEP(collector netip.AddrPort, captureID uint32) (*HEP, error) {
	// Not connected: a connected socket would fail the datagram after an
	// ICMP port unreachable (a collector restarting) instead of sending it.
	conn, err := net.ListenUDP("udp", nil)
	if err != nil {
		return nil, fmt.Errorf("hep collector %s: %w", collector, err)
	}
	h := &HEP{conn: conn, to: collector, id: captureID, q: newQueue(), done: make(chan struct{})}
	go h.run()
	return h, nil
}

// Write queues a SIP message; it never blocks.
func (h *HEP) Write(p Packet) { h.q.put(p) }

// Dropped counts the messages not sent because the sender fell behind.
func (h *HEP) Dropped() uint64 { return h.q.dropped.Load() }

// Close sends what is queued and closes the socket. A collector that is
// down (ICMP unreachable) is not an error: HEP is fire and forget.
func (h *HEP) Close() error {
	h.q.close()
	<-h.done
	return h.err
}

func (h *HEP) run() {
	defer close(h.done)
	for p := range h.q.ch {
		_, _ = h.conn.WriteToUDPAddrPort(EncodeHEP(p, h.id), h.to)
	}
	h.err = h.conn.Close()
}

// EncodeHEP is the HEPv3 datagram of a SIP message.
func EncodeHEP(p Packet, captureID uint32) []byte {
	b := make([]byte, 6, 128+len(p.Payload)+len(p.CallID))
	copy(b, "HEP3")
	chunk := func(typ uint16, v []byte) {
		b = binary.BigEndian.AppendUint16(b, 0) // vendor: generic
		b = binary.BigEndian.AppendUint16(b, typ)
		b = binary.BigEndian.AppendUint16(b, uint16(6+len(v)))
		b = append(b, v...)
	}
	u16 := func(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }
	u32 := func(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
	src, dst := p.Src.Addr().Unmap(), p.Dst.Addr().Unmap()
	if src.Is4() {
		chunk(hepFamily, []byte{2})
	} else {
		chunk(hepFamily, []byte{10})
	}
	proto := byte(17)
	if p.TCP {
		proto = 6
	}
	chunk(hepProto, []byte{proto})
	if src.Is4() {
		chunk(hepSrcIPv4, src.AsSlice())
		chunk(hepDstIPv4, dst.AsSlice())
	} else {
		chunk(hepSrcIPv6, src.AsSlice())
		chunk(hepDstIPv6, dst.AsSlice())
	}
	chunk(hepSrcPort, u16(p.Src.Port()))
	chunk(hepDstPort, u16(p.Dst.Port()))
	chunk(hepTimeSec, u32(uint32(p.Time.Unix())))
	chunk(hepTimeUsec, u32(uint32(p.Time.Nanosecond()/1000)))
	chunk(hepProtoType, []byte{1})
	chunk(hepCaptureID, u32(captureID))
	if p.CallID != "" {
		chunk(hepCorrelate, []byte(p.CallID))
	}
	payload := p.Payload
	if room := maxHEPDatagram - len(b) - 6; len(payload) > room {
		// A TCP message near sipgo's 65,535 bytes does not fit one UDP
		// datagram with its HEP header, nor its lengths a uint16: the
		// collector gets its start (the start line and headers), not a
		// datagram the kernel refuses or lengths that wrapped.
		payload = payload[:room]
	}
	chunk(hepPayload, payload)
	binary.BigEndian.PutUint16(b[4:], uint16(len(b)))
	return b
}

// maxHEPDatagram is the largest UDP datagram (IPv4: 65,535 bytes less
// the IP and UDP headers).
const maxHEPDatagram = 65507

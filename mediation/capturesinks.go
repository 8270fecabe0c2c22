package mediation

import (
	"bytes"
	"net"
	"net/netip"
	"time"

	"github.com/mediation-emulator/mediation/mediation/capture"
	"github.com/mediation-emulator/mediation/mediation/relay"
	"github.com/mediation-emulator/mediation/sip"
)

// openCapture adds to the SIP trace the capture sinks of the config (pcap
// file, HEP collector) and gives the calls the relay's packet tap. It runs
// after bind, before the sides start (so before any message is traced).
// The returned function closes them once the sides and calls are gone.
func (s *Server) openCapture() (closeAll func(), err error) {
	var sinks []WireSink
	var closers []func() error
	cc := s.cfg.Capture
	if cc.Pcap != "" {
		p, err := capture.OpenPcap(cc.Pcap, cc.PcapMaxSize)
		if err != nil {
			return nil, err
		}
		s.pcap = p
		closers = append(closers, p.Close)
		sinks = append(sinks, pcapSink{p})
		if cc.PcapMedia {
			s.deps.mediaTap = pcapSink{p}.media
		}
	}
	if cc.HEP != "" {
		h, err := capture.DialHEP(netip.MustParseAddrPort(cc.HEP), cc.HEPCaptureID)
		if err != nil {
			for _, c := range closers {
				_ = c()
			}
			return nil, err
		}
		closers = append(closers, h.Close)
		sinks = append(sinks, hepSink{h})
	}
	s.wires.sinks = append(s.wires.sinks, sinks...)
	return func() {
		for _, c := range closers {
			if err := c(); err != nil {
				s.log.Warn().Err(err).Msg("closing a capture")
			}
		}
	}, nil
}

// packet is a traced SIP message as a captured packet.
func packet(w *sip.Wire) capture.Packet {
	src, dst := addrPort(w.Remote), addrPort(w.Local)
	if w.Dir == sip.Out {
		src, dst = dst, src
	}
	return capture.Packet{Time: w.Time, TCP: w.Transport != "UDP", Src: src, Dst: dst, Payload: bytes.Clone(w.Bytes()), CallID: w.CallID()}
}

// hepSink sends SIP messages to a HEP collector.
type hepSink struct{ h *capture.HEP }

// Wire implements WireSink.
func (s hepSink) Wire(w *sip.Wire, _ string) { s.h.Write(packet(w)) }

// pcapSink writes SIP messages and media packets to a pcap file.
type pcapSink struct{ p *capture.Pcap }

// Wire implements WireSink.
func (s pcapSink) Wire(w *sip.Wire, _ string) { s.p.Write(packet(w)) }

// media is the relay's packet tap.
func (s pcapSink) media(in bool, local, remote netip.AddrPort, data []byte) {
	src, dst := remote, local
	if !in {
		src, dst = local, remote
	}
	s.p.Write(capture.Packet{Time: time.Now(), Src: src, Dst: dst, Payload: bytes.Clone(data)})
}

var _ relay.PacketTap = pcapSink{}.media

// addrPort is a socket address as IP and port.
func addrPort(a net.Addr) netip.AddrPort {
	switch a := a.(type) {
	case *net.UDPAddr:
		return a.AddrPort()
	case *net.TCPAddr:
		return a.AddrPort()
	case nil:
		return netip.AddrPort{}
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}

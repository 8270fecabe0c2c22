// Package capture records what the mediation server sends and receives for
// the tools operators already use: a pcap file (Wireshark, tshark) and a
// HEP collector (Homer). It knows nothing about SIP or calls: it is given
// packets with their addresses.
package capture

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// Packet is one UDP datagram or one TCP segment's payload, as it crossed
// one of the server's sockets.
type Packet struct {
	Time     time.Time
	TCP      bool
	Src, Dst netip.AddrPort
	// Payload belongs to the Packet once written.
	Payload []byte
	// CallID is the SIP Call-ID of a SIP message (HEP correlates by it).
	CallID string
}

// queueLen bounds the packets waiting for the file; more are dropped (and
// counted) rather than slowing the SIP or RTP path.
const queueLen = 8192

// maxFlows bounds the TCP flows whose sequence numbers are remembered.
const maxFlows = 4096

// snapLen is the largest frame recorded: an IP packet's maximum.
const snapLen = 65535

// Pcap writes packets to a pcap file as Ethernet/IP/UDP or TCP frames with
// their real addresses and ports, from a goroutine of its own. With a
// maximum size the file is rotated: FILE is renamed FILE.1 (replacing the
// previous one) and a new FILE begins.
type Pcap struct {
	path    string
	maxSize int64
	q       *queue
	done    chan struct{}
	// reopen asks the writer goroutine to follow a rotated file (Reopen).
	reopen chan chan reopened

	// The writer goroutine's own.
	f    *os.File
	w    *pcapgo.Writer
	size int64
	seq  map[[2]netip.AddrPort]uint32
	err  error
	// last is the timestamp of the frame written last: no frame is
	// stamped before it (write).
	last time.Time
}

// maxSegment is the most payload one TCP frame carries: a larger message
// (sipgo reads up to 65,535 bytes) is written as several segments, which
// Wireshark reassembles, since one frame's IP length could not say it.
const maxSegment = 32 << 10

// OpenPcap creates (or truncates) path and starts the writer. maxSize is
// in bytes, 0 for no rotation.
func OpenPcap(path string, maxSize int64) (*Pcap, error) {
	p := &Pcap{path: path, maxSize: maxSize, q: newQueue(), done: make(chan struct{}),
		reopen: make(chan chan reopened), seq: map[[2]netip.AddrPort]uint32{}}
	if err := p.open(); err != nil {
		return nil, err
	}
	go p.run()
	return p, nil
}

func (p *Pcap) open() error {
	f, err := os.Create(p.path)
	if err != nil {
		return fmt.Errorf("pcap: %w", err)
	}
	w := pcapgo.NewWriterNanos(f)
	if err := w.WriteFileHeader(snapLen, layers.LinkTypeEthernet); err != nil {
		f.Close()
		return fmt.Errorf("pcap %s: %w", p.path, err)
	}
	p.f, p.w, p.size = f, w, 24
	return nil
}

// Write queues a packet; it never blocks. A full queue drops the packet.
func (p *Pcap) Write(pkt Packet) { p.q.put(pkt) }

// Dropped is the number of packets not recorded because the writer fell
// behind.
func (p *Pcap) Dropped() uint64 { return p.q.dropped.Load() }

// Close writes what is queued and closes the file. It returns the first
// write error, if any.
func (p *Pcap) Close() error {
	p.q.close()
	<-p.done
	return p.err
}

// ErrClosed is Reopen's error once the capture is closed.
var ErrClosed = errors.New("pcap capture closed")

// reopened is the writer goroutine's answer to Reopen.
type reopened struct {
	done bool
	err  error
}

// Reopen follows a rotation done by another program (logrotate, then
// SIGHUP): if the path no longer names the file being written (moved
// away or removed), a new file with its own header begins at the path and
// the old one is closed, whole. A file still at its path is kept as it
// is, never truncated. It reports whether a new file was begun.
func (p *Pcap) Reopen() (bool, error) {
	reply := make(chan reopened, 1)
	select {
	case p.reopen <- reply:
	case <-p.done:
		return false, ErrClosed
	}
	r := <-reply
	return r.done, r.err
}

// follow is Reopen on the writer goroutine.
func (p *Pcap) follow() reopened {
	if p.f == nil {
		return reopened{}
	}
	open, err := p.f.Stat()
	if err != nil {
		return reopened{err: fmt.Errorf("pcap %s: %w", p.path, err)}
	}
	if at, err := os.Stat(p.path); err == nil && os.SameFile(open, at) {
		return reopened{}
	}
	old := p.f
	if err := p.open(); err != nil {
		return reopened{err: err} // the old file goes on
	}
	if err := old.Close(); err != nil {
		return reopened{done: true, err: fmt.Errorf("pcap %s: closing the rotated file: %w", p.path, err)}
	}
	return reopened{done: true}
}

func (p *Pcap) run() {
	defer close(p.done)
	buf := gopacket.NewSerializeBuffer()
	for {
		select {
		case pkt, ok := <-p.q.ch:
			if !ok {
				p.closeFile()
				return
			}
			p.write(buf, pkt)
		case reply := <-p.reopen:
			reply <- p.follow()
		}
	}
}

func (p *Pcap) write(buf gopacket.SerializeBuffer, pkt Packet) {
	if p.err != nil {
		return // keep draining; the error is reported by Close
	}
	// Each packet is stamped as it crossed its socket, by the goroutine
	// that read or wrote it, and queued after: two goroutines may queue in
	// the other order than they stamped. The file's frames stay in time
	// order (Wireshark would show negative deltas), the later-queued one
	// taking the earlier's time, a few milliseconds at most.
	if pkt.Time.Before(p.last) {
		pkt.Time = p.last
	}
	p.last = pkt.Time
	for pkt.TCP && len(pkt.Payload) > maxSegment {
		head := pkt
		head.Payload = pkt.Payload[:maxSegment]
		p.writeFrame(buf, head)
		pkt.Payload = pkt.Payload[maxSegment:]
	}
	p.writeFrame(buf, pkt)
}

// writeFrame writes pkt as one frame.
func (p *Pcap) writeFrame(buf gopacket.SerializeBuffer, pkt Packet) {
	if p.err != nil {
		return
	}
	frame, err := p.frame(buf, pkt)
	if err != nil {
		return // an address the frame cannot carry: skip the packet
	}
	if err := p.rotate(int64(16 + len(frame))); err != nil {
		p.err = err
		return
	}
	ci := gopacket.CaptureInfo{Timestamp: pkt.Time, CaptureLength: len(frame), Length: len(frame)}
	if err := p.w.WritePacket(ci, frame); err != nil {
		p.err = fmt.Errorf("pcap %s: %w", p.path, err)
		return
	}
	p.size += int64(16 + len(frame))
}

func (p *Pcap) closeFile() {
	if p.f != nil {
		if err := p.f.Close(); err != nil && p.err == nil {
			p.err = fmt.Errorf("pcap %s: %w", p.path, err)
		}
	}
}

// rotate starts a new file when the next record would make this one
// larger than maxSize (a file always takes at least one record).
func (p *Pcap) rotate(next int64) error {
	if p.maxSize <= 0 || p.size+next <= p.maxSize || p.size <= 24 {
		return nil
	}
	if err := p.f.Close(); err != nil {
		return fmt.Errorf("pcap %s: %w", p.path, err)
	}
	p.f = nil
	if err := os.Rename(p.path, p.path+".1"); err != nil {
		return fmt.Errorf("pcap rotate: %w", err)
	}
	return p.open()
}

var errAddress = errors.New("source and destination are not of one IP family")

// frame builds the Ethernet frame of a packet.
func (p *Pcap) frame(buf gopacket.SerializeBuffer, pkt Packet) ([]byte, error) {
	src, dst := pkt.Src.Addr().Unmap(), pkt.Dst.Addr().Unmap()
	if src.Is4() != dst.Is4() {
		return nil, errAddress
	}
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{0, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{0, 0, 0, 0, 0, 2}}
	var ip gopacket.NetworkLayer
	var ipLayer gopacket.SerializableLayer
	proto := layers.IPProtocolUDP
	if pkt.TCP {
		proto = layers.IPProtocolTCP
	}
	if src.Is4() {
		eth.EthernetType = layers.EthernetTypeIPv4
		v4 := &layers.IPv4{Version: 4, TTL: 64, Protocol: proto, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
		ip, ipLayer = v4, v4
	} else {
		eth.EthernetType = layers.EthernetTypeIPv6
		v6 := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: proto, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
		ip, ipLayer = v6, v6
	}
	var l4 gopacket.SerializableLayer
	if pkt.TCP {
		// One flow per direction, with sequence numbers that follow the
		// bytes sent, so that Wireshark reassembles messages split or
		// joined across segments.
		key, rev := [2]netip.AddrPort{pkt.Src, pkt.Dst}, [2]netip.AddrPort{pkt.Dst, pkt.Src}
		if len(p.seq) >= maxFlows {
			// Connections come and go: start the numbering again rather
			// than remember every flow ever seen.
			clear(p.seq)
		}
		seq := p.seq[key]
		if seq == 0 {
			seq = 1
		}
		ack := p.seq[rev]
		if ack == 0 {
			ack = 1
		}
		p.seq[key] = seq + uint32(len(pkt.Payload))
		tcp := &layers.TCP{SrcPort: layers.TCPPort(pkt.Src.Port()), DstPort: layers.TCPPort(pkt.Dst.Port()),
			Seq: seq, Ack: ack, ACK: true, PSH: true, Window: 65535}
		if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
			return nil, err
		}
		l4 = tcp
	} else {
		udp := &layers.UDP{SrcPort: layers.UDPPort(pkt.Src.Port()), DstPort: layers.UDPPort(pkt.Dst.Port())}
		if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
			return nil, err
		}
		l4 = udp
	}
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, eth, ipLayer, l4, gopacket.Payload(pkt.Payload)); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

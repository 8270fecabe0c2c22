package capture_test

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/mediation-emulator/mediation/mediation/capture"
	"github.com/mediation-emulator/mediation/mediation/mediationtest/tools"
)

func sipMessage(method, callID string) []byte {
	return []byte(method + " sip:+15550100@192.0.2.20:5060 SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP 192.0.2.1:5068;branch=z9hG4bK" + callID + "\r\n" +
		"From: <sip:+15550199@192.0.2.1>;tag=a\r\nTo: <sip:+15550100@192.0.2.20>\r\n" +
		"Call-ID: " + callID + "\r\nCSeq: 1 " + method + "\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
}

// TestPcapReadByTshark: UDP and TCP (IPv4 and IPv6) packets come out of
// the file with their addresses, ports and SIP messages, as tshark reads
// them.
func TestPcapReadByTshark(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	file := filepath.Join(t.TempDir(), "sip.pcap")
	p, err := capture.OpenPcap(file, 0)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	pkts := []capture.Packet{
		{Time: now, Src: netip.MustParseAddrPort("192.0.2.1:5068"), Dst: netip.MustParseAddrPort("192.0.2.20:5060"), Payload: sipMessage("INVITE", "c1")},
		{Time: now.Add(time.Millisecond), TCP: true, Src: netip.MustParseAddrPort("192.0.2.1:40000"), Dst: netip.MustParseAddrPort("192.0.2.20:5060"), Payload: sipMessage("OPTIONS", "c2")},
		{Time: now.Add(2 * time.Millisecond), TCP: true, Src: netip.MustParseAddrPort("192.0.2.1:40000"), Dst: netip.MustParseAddrPort("192.0.2.20:5060"), Payload: sipMessage("BYE", "c3")},
		{Time: now.Add(3 * time.Millisecond), Src: netip.MustParseAddrPort("[2001:db8::1]:5070"), Dst: netip.MustParseAddrPort("[2001:db8::2]:5061"), Payload: sipMessage("INVITE", "c4")},
	}
	for _, pkt := range pkts {
		p.Write(pkt)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	rows := tools.TsharkFields(t, ctx, file, "sip", "ip.src", "ipv6.src", "udp.srcport", "tcp.srcport",
		"ip.dst", "ipv6.dst", "udp.dstport", "tcp.dstport", "sip.Method", "sip.Call-ID")
	var got []string
	for _, r := range rows {
		got = append(got, strings.Join(r, " "))
	}
	want := []string{
		"192.0.2.1  5068  192.0.2.20  5060  INVITE c1",
		"192.0.2.1   40000 192.0.2.20   5060 OPTIONS c2",
		"192.0.2.1   40000 192.0.2.20   5060 BYE c3",
		" 2001:db8::1 5070   2001:db8::2 5061  INVITE c4",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("tshark read:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestPcapRotates: at the maximum size the file is renamed FILE.1 and a
// new one begins; neither grows past the maximum, and nothing is lost
// from the newest file.
func TestPcapRotates(t *testing.T) {
	file := filepath.Join(t.TempDir(), "sip.pcap")
	const max = 4096
	p, err := capture.OpenPcap(file, max)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		p.Write(capture.Packet{Time: time.Now(), Src: netip.MustParseAddrPort("127.0.0.1:5068"),
			Dst: netip.MustParseAddrPort("127.0.0.1:5060"), Payload: sipMessage("OPTIONS", "r"+string(rune('a'+i%26)))})
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{file, file + ".1"} {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatalf("after rotation: %v", err)
		}
		if st.Size() > max || st.Size() <= 24 {
			t.Errorf("%s: %d bytes, want some packets and at most %d", f, st.Size(), max)
		}
	}
	if p.Dropped() != 0 {
		t.Errorf("%d packets dropped", p.Dropped())
	}
}

// pcapCallIDs reads a pcap file with pcapgo: the Call-IDs of its packets,
// failing on a file that is not whole.
func pcapCallIDs(t *testing.T, file string) []string {
	t.Helper()
	var ids []string
	for _, data := range tools.PcapPackets(t, file) {
		_, rest, _ := strings.Cut(string(data), "Call-ID: ")
		id, _, _ := strings.Cut(rest, "\r\n")
		ids = append(ids, id)
	}
	return ids
}

// TestPcapReopen: after the file is moved away or removed, Reopen begins
// a new one at the path with its own header (the old one stays whole);
// while the file is still at its path, Reopen keeps it.
func TestPcapReopen(t *testing.T) {
	file := filepath.Join(t.TempDir(), "sip.pcap")
	p, err := capture.OpenPcap(file, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	write := func(id string) {
		p.Write(capture.Packet{Time: time.Now(), Src: netip.MustParseAddrPort("127.0.0.1:5068"),
			Dst: netip.MustParseAddrPort("127.0.0.1:5060"), Payload: sipMessage("OPTIONS", id)})
		// Written once the file has grown past the header.
		deadline := time.Now().Add(5 * time.Second)
		for {
			if st, err := os.Stat(file); err == nil && st.Size() > 24 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("packet %s never written", id)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	write("a")
	if done, err := p.Reopen(); done || err != nil {
		t.Fatalf("Reopen of a file still in place: %v %v, want false, nil", done, err)
	}
	if err := os.Rename(file, file+".1"); err != nil {
		t.Fatal(err)
	}
	if done, err := p.Reopen(); !done || err != nil {
		t.Fatalf("Reopen after a move: %v %v, want true, nil", done, err)
	}
	write("b")
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	if done, err := p.Reopen(); !done || err != nil {
		t.Fatalf("Reopen after a removal: %v %v, want true, nil", done, err)
	}
	write("c")
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Reopen(); err != capture.ErrClosed {
		t.Fatalf("Reopen after Close: %v", err)
	}
	if got := pcapCallIDs(t, file+".1"); strings.Join(got, ",") != "a" {
		t.Errorf("rotated file: %v, want a", got)
	}
	if got := pcapCallIDs(t, file); strings.Join(got, ",") != "c" {
		t.Errorf("file at the path: %v, want c", got)
	}
}

// TestPcapBeginsAfresh: opening the capture file of an earlier run begins
// it afresh, as tcpdump -w does (README "pcap capture"): what was there
// is gone and the file is a pcap file from its first byte.
func TestPcapBeginsAfresh(t *testing.T) {
	file := filepath.Join(t.TempDir(), "run.pcap")
	if err := os.WriteFile(file, bytes.Repeat([]byte("earlier run "), 1000), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := capture.OpenPcap(file, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 24 || bytes.Contains(got, []byte("earlier run")) {
		t.Fatalf("file after a new start: %d bytes, want the 24-byte pcap header alone", len(got))
	}
	if _, err := pcapgo.NewReader(bytes.NewReader(got)); err != nil {
		t.Fatalf("not a pcap file: %v", err)
	}
}

// TestPcapFramesInTimeOrder: packets are stamped as they cross their
// sockets and queued after, so two goroutines may queue them in the other
// order than they stamped them (r28-trace F1: up to 6 ms apart with three
// calls at a time). The file's frames are never stamped before the frame
// written before them: Wireshark would show negative deltas.
func TestPcapFramesInTimeOrder(t *testing.T) {
	file := filepath.Join(t.TempDir(), "order.pcap")
	p, err := capture.OpenPcap(file, 0)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	src, dst := netip.MustParseAddrPort("192.0.2.1:5068"), netip.MustParseAddrPort("192.0.2.20:5060")
	for i, d := range []time.Duration{0, 5 * time.Millisecond, 2 * time.Millisecond, 6 * time.Millisecond} {
		p.Write(capture.Packet{Time: now.Add(d), Src: src, Dst: dst, Payload: sipMessage("OPTIONS", fmt.Sprint("o", i))})
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	frames := tools.PcapFrames(t, file)
	want := []time.Duration{0, 5 * time.Millisecond, 5 * time.Millisecond, 6 * time.Millisecond}
	if len(frames) != len(want) {
		t.Fatalf("%d frames, want %d", len(frames), len(want))
	}
	for i, f := range frames {
		if got := f.CI.Timestamp.Sub(now); got != want[i].Truncate(time.Microsecond) && got != want[i] {
			t.Errorf("frame %d at +%v, want +%v", i, got, want[i])
		}
	}
}

// TestPcapLargeTCPMessage: a TCP message too large for one frame's IP
// length (sipgo reads up to 65,535 bytes) is written as segments of at
// most 32 KiB that carry it whole, each frame's IP length its own.
func TestPcapLargeTCPMessage(t *testing.T) {
	file := filepath.Join(t.TempDir(), "large.pcap")
	p, err := capture.OpenPcap(file, 0)
	if err != nil {
		t.Fatal(err)
	}
	msg := bytes.Repeat([]byte("x"), 65500)
	p.Write(capture.Packet{Time: time.Now(), TCP: true, Src: netip.MustParseAddrPort("192.0.2.1:40000"), Dst: netip.MustParseAddrPort("192.0.2.20:5060"), Payload: msg})
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	var got []byte
	frames := tools.PcapFrames(t, file)
	for i, f := range frames {
		pkt := gopacket.NewPacket(f.Data, layers.LayerTypeEthernet, gopacket.Default)
		ip, _ := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		tcp, _ := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if ip == nil || tcp == nil || int(ip.Length) != len(f.Data)-14 {
			t.Fatalf("frame %d: IP %v TCP %v, frame of %d bytes: want IPv4/TCP whose length is the frame's", i, ip, tcp, len(f.Data))
		}
		if want := uint32(1 + len(got)); tcp.Seq != want {
			t.Errorf("frame %d: TCP seq %d, want %d", i, tcp.Seq, want)
		}
		got = append(got, tcp.Payload...)
	}
	if len(frames) < 2 || !bytes.Equal(got, msg) {
		t.Fatalf("%d frames carrying %d bytes, want the %d-byte message whole in several", len(frames), len(got), len(msg))
	}
}

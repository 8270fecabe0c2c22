package capture_test

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/mediation-emulator/mediation/mediation/capture"
)

// TestHEPLargeMessage: a TCP message near sipgo's 65,535 bytes does not
// fit one UDP datagram with its HEP header, nor its lengths a uint16: the
// collector gets one datagram with its start, every length consistent (it
// used to get nothing, or lengths that wrapped, r28-trace).
func TestHEPLargeMessage(t *testing.T) {
	col, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer col.Close()
	h, err := capture.DialHEP(netip.MustParseAddrPort(col.LocalAddr().String()), 7)
	if err != nil {
		t.Fatal(err)
	}
	msg := append([]byte("INVITE sip:+15550100@192.0.2.20 SIP/2.0\r\n"), bytes.Repeat([]byte("x"), 65500)...)
	h.Write(capture.Packet{Time: time.Now(), TCP: true, Src: netip.MustParseAddrPort("192.0.2.1:40000"),
		Dst: netip.MustParseAddrPort("192.0.2.20:5060"), Payload: msg, CallID: "big"})
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	_ = col.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 70000)
	n, err := col.Read(buf)
	if err != nil {
		t.Fatalf("no HEP datagram: %v", err)
	}
	d := buf[:n]
	if string(d[:4]) != "HEP3" || int(binary.BigEndian.Uint16(d[4:])) != n {
		t.Fatalf("datagram of %d bytes, header %q length %d", n, d[:4], binary.BigEndian.Uint16(d[4:]))
	}
	var payload []byte
	for off := 6; off < n; {
		if off+6 > n {
			t.Fatalf("chunk header cut at %d of %d", off, n)
		}
		typ, l := binary.BigEndian.Uint16(d[off+2:]), int(binary.BigEndian.Uint16(d[off+4:]))
		if l < 6 || off+l > n {
			t.Fatalf("chunk %#x at %d claims %d bytes, datagram %d", typ, off, l, n)
		}
		if typ == 0x000f {
			payload = d[off+6 : off+l]
		}
		off += l
	}
	if len(payload) < 60000 || !bytes.HasPrefix(msg, payload) {
		t.Fatalf("payload of %d bytes, want the message's start (at least 60000 bytes)", len(payload))
	}
}

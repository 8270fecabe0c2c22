package mediation_test

import (
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
	"github.com/zaf/g711"

	"github.com/mediation-emulator/mediation/mediation/tone"
)

// rawPeer is a test's own media end: a socket that plays a tone as G.711
// RTP (or SRTP) at the server and collects the audio it gets back.
type rawPeer struct {
	sock     *net.UDPConn
	law      string        // "PCMU" or "PCMA"
	enc, dec *srtp.Context // nil: plain RTP
}

// exchange sends n 20 ms packets of hz to to, reading what arrives between
// them, and returns the decoded samples received on the same law.
func (p rawPeer) exchange(t *testing.T, to netip.AddrPort, hz float64, n int) []int16 {
	t.Helper()
	pt, encode, decode := uint8(0), g711.EncodeUlaw, g711.DecodeUlaw
	if p.law == "PCMA" {
		pt, encode, decode = 8, g711.EncodeAlaw, g711.DecodeAlaw
	}
	var phase float64
	var heard []int16
	buf := make([]byte, 1500)
	for i := 0; i < n; i++ {
		pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: uint16(i), Timestamp: uint32(160 * i), SSRC: 0x1234},
			Payload: encode(pcmBytes(tone.Generate(hz, 8000, 160, &phase)))}
		out, _ := pkt.Marshal()
		if p.enc != nil {
			var err error
			if out, err = p.enc.EncryptRTP(nil, out, nil); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := p.sock.WriteToUDP(out, net.UDPAddrFromAddrPort(to)); err != nil {
			t.Fatal(err)
		}
		p.sock.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		for {
			m, _, err := p.sock.ReadFromUDP(buf)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			in := buf[:m]
			if p.dec != nil {
				var h rtp.Header
				if in, err = p.dec.DecryptRTP(nil, in, &h); err != nil {
					t.Fatalf("packet from the server does not decrypt with the key it declared: %v", err)
				}
			}
			var got rtp.Packet
			if got.Unmarshal(in) == nil && got.PayloadType == pt {
				heard = append(heard, pcmSamples(decode(got.Payload))...)
			}
		}
	}
	return heard
}

func pcmBytes(s []int16) []byte {
	b := make([]byte, 2*len(s))
	for i, v := range s {
		b[2*i], b[2*i+1] = byte(v), byte(v>>8)
	}
	return b
}

func pcmSamples(b []byte) []int16 {
	s := make([]int16, len(b)/2)
	for i := range s {
		s[i] = int16(b[2*i]) | int16(b[2*i+1])<<8
	}
	return s
}

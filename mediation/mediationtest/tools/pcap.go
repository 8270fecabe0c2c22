package tools

import (
	"io"
	"os"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/pcapgo"
)

// Frame is one packet of a pcap file: its capture info and data.
type Frame struct {
	CI   gopacket.CaptureInfo
	Data []byte
}

// PcapFrames reads a pcap file with pcapgo and returns its frames,
// failing the test on a file that is not whole.
func PcapFrames(t testing.TB, file string) []Frame {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	var out []Frame
	for {
		data, ci, err := r.ReadPacketData()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		out = append(out, Frame{ci, data})
	}
}

// PcapPackets reads a pcap file with pcapgo and returns its packets'
// data, failing the test on a file that is not whole.
func PcapPackets(t testing.TB, file string) [][]byte {
	t.Helper()
	var out [][]byte
	for _, f := range PcapFrames(t, file) {
		out = append(out, f.Data)
	}
	return out
}

package tools

import (
	"io"
	"os"
	"testing"

	"github.com/google/gopacket/pcapgo"
)

// PcapPackets reads a pcap file with pcapgo and returns its packets'
// data, failing the test on a file that is not whole.
func PcapPackets(t testing.TB, file string) [][]byte {
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
	var out [][]byte
	for {
		data, _, err := r.ReadPacketData()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		out = append(out, data)
	}
}

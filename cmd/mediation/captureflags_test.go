package main

import (
	"reflect"
	"strings"
	"testing"

	"github.com/mediation-emulator/mediation/mediation"
)

func TestCaptureFlags(t *testing.T) {
	cfg, err := parseServe(t, "--pcap", "/tmp/m.pcap", "--pcap-media", "--pcap-max-size", "1000000",
		"--hep", "127.0.0.1:9060", "--hep-id", "2001")
	if err != nil {
		t.Fatal(err)
	}
	want := mediation.DefaultConfig()
	want.Capture.Pcap, want.Capture.PcapMedia, want.Capture.PcapMaxSize = "/tmp/m.pcap", true, 1000000
	want.Capture.HEP, want.Capture.HEPCaptureID = "127.0.0.1:9060", 2001
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("got %+v\nwant %+v", cfg.Capture, want.Capture)
	}
	for _, bad := range [][]string{
		{"--pcap", "/tmp/m.pcap", "--pcap-max-size", "10M"},
		{"--pcap", "/tmp/m.pcap", "--pcap-max-size", "100"},
		{"--pcap-media"},
		{"--hep", "collector:9060"},
	} {
		_, err := parseServe(t, bad...)
		if err == nil || !strings.Contains(err.Error(), "capture.") {
			t.Errorf("%v: %v, want an error naming the capture.pcap field", bad, err)
		}
	}
}

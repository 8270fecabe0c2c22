// Golden-file test of the SDP of every call case, shown in the README.

package sdp

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// goldenCases are the SDP bodies the README shows for each call case, built
// from the fixtures: outbound calls start from an SfB client offer and the
// SBC answer, inbound calls from the SBC offer and an SfB client answer.
var goldenCases = []struct {
	name  string
	build func(t *testing.T) (Description, error)
}{
	{"outbound-bypass-to-gateway", func(t *testing.T) (Description, error) {
		return GatewayOffer(media(t, "sfb-bypass-offer.sdp"), true, gatewayAnchor)
	}},
	{"outbound-bypass-to-client", func(t *testing.T) (Description, error) {
		return ClientAnswer(media(t, "sfb-bypass-offer.sdp"), media(t, "sbc-answer-pcma.sdp"), true, edgeAnchor, testBypass)
	}},
	{"outbound-anchored-to-gateway", func(t *testing.T) (Description, error) {
		return GatewayOffer(media(t, "sfb-edge-srtp-optional-offer.sdp"), false, gatewayAnchor)
	}},
	{"outbound-anchored-to-client", func(t *testing.T) (Description, error) {
		return ClientAnswer(media(t, "sfb-edge-srtp-optional-offer.sdp"), media(t, "sbc-answer-pcma.sdp"), false, edgeAnchor, testBypass)
	}},
	{"inbound-bypass-to-client", func(t *testing.T) (Description, error) {
		return ClientOffer(media(t, "sbc-offer-pcma-pcmu.sdp"), edgeAnchor, testBypass)
	}},
	{"inbound-bypass-to-gateway", func(t *testing.T) (Description, error) {
		return GatewayAnswer(media(t, "sbc-offer-pcma-pcmu.sdp"), media(t, "sfb-answer-with-bypassid.sdp"), true, gatewayAnchor)
	}},
	{"inbound-anchored-to-client", func(t *testing.T) (Description, error) {
		return ClientOffer(media(t, "sbc-offer-pcma-pcmu.sdp"), edgeAnchor, "")
	}},
	{"inbound-anchored-to-gateway", func(t *testing.T) (Description, error) {
		return GatewayAnswer(media(t, "sbc-offer-pcma-pcmu.sdp"), media(t, "sfb-answer-no-bypassid.sdp"), false, gatewayAnchor)
	}},
}

// TestGolden compares each case's SDP with testdata/sdp/golden. The files
// are stored with LF endings so they paste cleanly into documentation;
// Marshal's CRLF endings are checked separately by the round-trip tests.
// Run with -update to rewrite them.
func TestGolden(t *testing.T) {
	for _, tt := range goldenCases {
		t.Run(tt.name, func(t *testing.T) {
			d, err := tt.build(t)
			if err != nil {
				t.Fatalf("build: %v", err)
			}
			d.Origin = Origin{SessionID: 1000, Version: 1}
			body := d.Marshal()
			assertCRLF(t, string(body))
			got := strings.ReplaceAll(string(body), "\r\n", "\n")
			path := filepath.Join(fixtureDir, "golden", tt.name+".sdp")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("read golden file (run go test -update to create it): %v", err)
			}
			if got != string(want) {
				t.Errorf("%s differs from the golden file (run go test -update if intended):\n got:\n%s\nwant:\n%s", tt.name, got, want)
			}
		})
	}
}

// Test setup shared by every test file: leak check, fixtures, anchors.

package sdp

import (
	"bytes"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"go.uber.org/goleak"
)

var update = flag.Bool("update", false, "rewrite the golden SDP files in testdata/sdp/golden")

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	fixtureDir = "../testdata/sdp"
	testBypass = "be38f190-a24a-4a72-b66c-b09fd0909ebc"
)

// Anchors used by every builder test and by the golden files.
var (
	gatewayAnchor = netip.MustParseAddrPort("192.0.2.1:49152")
	edgeAnchor    = netip.MustParseAddrPort("192.0.2.1:49154")
	v6Anchor      = netip.MustParseAddrPort("[2001:db8::1]:49156")
)

// fixture returns a testdata/sdp file, with CRLF line endings when crlf is
// set, as a SIP stack would deliver it.
func fixture(t testing.TB, name string, crlf bool) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtureDir, name))
	if err != nil {
		t.Fatalf("read fixture: %v", err)
	}
	if crlf {
		b = bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n"))
	}
	return b
}

// media parses a fixture that must be valid.
func media(t testing.TB, name string) Media {
	t.Helper()
	m, err := Parse(fixture(t, name, true))
	if err != nil {
		t.Fatalf("Parse(%s): %v", name, err)
	}
	return m
}

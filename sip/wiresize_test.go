package sip

import (
	"os"
	"path/filepath"
	"testing"

	gosip "github.com/emiago/sipgo/sip"
)

// wireSizeSeeds are the RFC 4475/5118 torture messages and a real SfB
// INVITE.
func wireSizeSeeds(t testing.TB) [][]byte {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join("..", "testdata", "torture", "rfc4475", "*.dat"))
	v6, _ := filepath.Glob(filepath.Join("..", "testdata", "torture", "rfc5118", "*"))
	var seeds [][]byte
	for _, f := range append(files, v6...) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	return append(seeds, benchInvite(t))
}

// checkWireSize fails unless wireSize counts msg as sipgo writes it.
func checkWireSize(t testing.TB, what string, msg gosip.Message) {
	t.Helper()
	if got, want := wireSize(msg), len(msg.String()); got != want {
		t.Fatalf("%s: wireSize %d, written %d bytes", what, got, want)
	}
}

// TestWireSize: the counted size is the written size for every torture
// message that parses, the responses we build to the requests among them,
// compact headers, and messages without headers or body.
func TestWireSize(t *testing.T) {
	n := 0
	for _, raw := range wireSizeSeeds(t) {
		msg, err := gosip.ParseMessage(raw)
		if err != nil {
			continue
		}
		n++
		checkWireSize(t, "parsed", msg)
		if req, ok := msg.(*gosip.Request); ok && req.Via() != nil && req.CallID() != nil && req.CSeq() != nil && req.From() != nil && req.To() != nil {
			checkWireSize(t, "response", newResponse(req, 200, "OK", "tag1", []byte("v=0\r\n")))
			checkWireSize(t, "sipgo response", gosip.NewResponseFromRequest(req, 486, "Busy Here", nil))
			req.CompactHeaders = true
			checkWireSize(t, "compact", req)
		}
	}
	if n < 10 {
		t.Fatalf("only %d seeds parsed", n)
	}
	bare := gosip.NewRequest(gosip.OPTIONS, gosip.Uri{Scheme: "sip", Host: "127.0.0.1"})
	checkWireSize(t, "no headers", bare)
	bare.SetBody([]byte{})
	checkWireSize(t, "empty body", bare)
	checkWireSize(t, "bare response", gosip.NewResponse(200, "OK"))
}

// FuzzWireSize: for anything sipgo parses, the counted size is the
// written one.
func FuzzWireSize(f *testing.F) {
	for _, s := range wireSizeSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		msg, err := gosip.ParseMessage(raw)
		if err != nil {
			return
		}
		checkWireSize(t, "parsed", msg)
	})
}

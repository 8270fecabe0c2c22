package sip

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"
)

// TestTracerSeesWrittenAcks: the tracer is shown each message as it goes
// on the wire (Wire.Bytes of a written message, serialised into a pooled
// buffer, equals what the peer reads), and an ACK written again for a
// retransmitted 2xx is the same ACK with a Via of its own: one Via, one
// Max-Forwards, one User-Agent, one Content-Length, a new branch.
func TestTracerSeesWrittenAcks(t *testing.T) {
	peer, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	var mu sync.Mutex
	var traced []string
	var kept []*Wire
	s, err := NewSide(SideConfig{Name: "test", Listen: netip.MustParseAddrPort("127.0.0.1:0"), UserAgent: "test-ua", Log: zerolog.Nop(),
		Handler: newRecorder(), Tracer: func(w *Wire) {
			if w.Dir != Out {
				return
			}
			mu.Lock()
			traced = append(traced, string(w.Bytes()))
			kept = append(kept, w)
			mu.Unlock()
		}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)

	pa := peer.LocalAddr().(*net.UDPAddr).AddrPort()
	d := &Dialog{Side: s, CallID: "ack-call", LocalTag: "ours", RemoteTag: "theirs",
		Local: gosip.Uri{Scheme: "sip", User: "a", Host: "127.0.0.1"}, Remote: gosip.Uri{Scheme: "sip", User: "b", Host: "127.0.0.1"},
		RemoteTarget: gosip.Uri{Scheme: "sip", User: "b", Host: "127.0.0.1", Port: int(pa.Port())},
		Transport:    "UDP", Flow: pa.String()}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ack, err := d.Ack(ctx, 7, nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := d.WriteAck(ctx, ack); err != nil {
			t.Fatal(err)
		}
	}
	_ = peer.SetDeadline(time.Now().Add(5 * time.Second))
	var got []string
	branches := map[string]bool{}
	for range 3 {
		buf := make([]byte, 65535)
		n, err := peer.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(buf[:n]))
		m, err := gosip.ParseMessage(buf[:n])
		if err != nil {
			t.Fatal(err)
		}
		req := m.(*gosip.Request)
		if req.Method != gosip.ACK || req.CSeq().SeqNo != 7 || req.CSeq().MethodName != gosip.ACK {
			t.Fatalf("not the ACK of CSeq 7: %s", buf[:n])
		}
		for _, name := range []string{"Via", "Max-Forwards", "User-Agent", "Content-Length"} {
			if c := len(HeadersNamed(req, name)); c != 1 {
				t.Errorf("%d %s headers in\n%s", c, name, buf[:n])
			}
		}
		b, _ := req.Via().Params.Get("branch")
		branches[b] = true
	}
	if len(branches) != 3 {
		t.Errorf("the ACKs share branches: %v", branches)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(traced) != 3 {
		t.Fatalf("tracer saw %d written messages, want 3", len(traced))
	}
	for i := range got {
		if traced[i] != got[i] {
			t.Errorf("message %d traced as\n%s\nwritten as\n%s", i, traced[i], got[i])
		}
	}
	for _, w := range kept {
		// The Wire went back to the pool without the message.
		if w.Msg != nil || w.Side != nil || w.data != nil {
			t.Errorf("a lent Wire still holds %v", w.Msg)
		}
	}
}

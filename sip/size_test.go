package sip

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"
)

// lockedBuffer is a log sink the side's goroutines and the test share.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestRespondTooLargeForUDP: a response larger than a UDP datagram takes
// is never lost silently: a final one becomes 513 Message Too Large (no
// body, our To-tag) and a provisional one is not sent, both counted and
// reported to the caller of Respond; over TCP the same response goes whole.
func TestRespondTooLargeForUDP(t *testing.T) {
	big := []byte("v=0\r\n" + strings.Repeat("a=x-filler:"+strings.Repeat("f", 100)+"\r\n", UDPLimit()/100))
	for _, tr := range []string{"udp", "tcp"} {
		t.Run(tr, func(t *testing.T) {
			rec := newRecorder()
			var logs lockedBuffer
			errs := make(chan error, 2)
			rec.answer = func(in *Incoming) {
				errs <- in.Respond(in.Response(183, "Session Progress", "ourtag", big))
				errs <- in.Respond(in.Response(200, "OK", "ourtag", big))
			}
			s := startSideConfig(t, SideConfig{Name: "test", Listen: netip.MustParseAddrPort("127.0.0.1:0"), UserAgent: "test",
				Log: zerolog.New(&logs), Handler: rec})
			r := dialRaw(t, tr, s.Addr())
			r.send(request("INVITE", "big1", "", 1))
			res := r.read().(*gosip.Response)
			for _, e := range []error{<-errs, <-errs} {
				if (tr == "udp") != errors.Is(e, ErrMessageTooLarge) {
					t.Errorf("Respond over %s: %v", tr, e)
				}
			}
			if tr == "tcp" {
				if res.StatusCode != 183 || len(res.Body()) != len(big) {
					t.Fatalf("over TCP: %d with %d bytes, want the 183 whole", res.StatusCode, len(res.Body()))
				}
				return
			}
			// The 183 was dropped: the first thing the caller reads is the 513.
			if res.StatusCode != 513 || len(res.Body()) != 0 {
				t.Fatalf("got %d with %d bytes of body, want 513 without one", res.StatusCode, len(res.Body()))
			}
			if tag, _ := res.To().Params.Get("tag"); tag != "ourtag" {
				t.Errorf("513 To-tag %q, want ours", tag)
			}
			if got := s.Stats().ResponsesTooLarge.Load(); got != 2 {
				t.Errorf("ResponsesTooLarge = %d, want 2", got)
			}
			// Logged by then (Respond logs before it returns), once a
			// second: the 183's. Its start line has a key of its own; it
			// was a second "message", which JSON readers drop one of.
			var line string
			for l := range strings.Lines(logs.String()) {
				if strings.Contains(l, "SIP message too large for UDP: not sent") {
					line = l
				}
			}
			if !strings.Contains(line, `"start_line":"SIP/2.0 183 Session Progress"`) || strings.Count(line, `"message":`) != 1 ||
				!strings.Contains(line, `"call_id":"c1"`) {
				t.Errorf("log line %q; want one message key, the 183's start line and Call-ID", line)
			}
		})
	}
}

// TestSendTooLargeForUDP: a request larger than UDP takes fails at once
// with ErrMessageTooLarge, counted, and leaves no transaction behind; over
// TCP it goes.
func TestSendTooLargeForUDP(t *testing.T) {
	peer := newRecorder()
	peer.answer = func(in *Incoming) { _ = in.Reply(200, "OK", "t") }
	to := startSide(t, peer)
	s := startSide(t, newRecorder())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, tr := range []string{"udp", "tcp"} {
		req := gosip.NewRequest(gosip.OPTIONS, gosip.Uri{Scheme: "sip", Host: "127.0.0.1", Port: int(to.Addr().Port())})
		req.SetTransport(strings.ToUpper(tr))
		req.SetDestination(netip.AddrPortFrom(to.Addr().Addr(), to.Addr().Port()).String())
		for range UDPLimit() / 50 {
			req.AppendHeader(gosip.NewHeader("X-Pad", strings.Repeat("p", 50)))
		}
		for _, h := range []gosip.Header{
			&gosip.FromHeader{Address: gosip.Uri{Scheme: "sip", User: "a", Host: "127.0.0.1"}, Params: gosip.HeaderParams{{K: "tag", V: "f" + tr}}},
			&gosip.ToHeader{Address: gosip.Uri{Scheme: "sip", User: "b", Host: "127.0.0.1"}},
			gosip.NewHeader("Call-ID", "size-"+tr),
			&gosip.CSeqHeader{SeqNo: 1, MethodName: gosip.OPTIONS},
		} {
			req.AppendHeader(h)
		}
		sink := &sinkRec{done: make(chan error, 1)}
		_, err := s.Send(ctx, req, sink)
		if tr == "udp" {
			if !errors.Is(err, ErrMessageTooLarge) {
				t.Fatalf("UDP: %v, want ErrMessageTooLarge", err)
			}
			if _, c := s.Transactions(); c != 0 {
				t.Errorf("%d client transactions left", c)
			}
			if got := s.Stats().RequestsTooLarge.Load(); got != 1 {
				t.Errorf("RequestsTooLarge = %d, want 1", got)
			}
			continue
		}
		if err != nil {
			t.Fatalf("TCP: %v", err)
		}
		select {
		case err := <-sink.done:
			sink.mu.Lock()
			codes := sink.codes
			sink.mu.Unlock()
			if err != nil || len(codes) != 1 || codes[0] != 200 {
				t.Fatalf("TCP: %v %v, want a 200", codes, err)
			}
		case <-ctx.Done():
			t.Fatal("TCP: no response")
		}
	}
}

package mediation_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/mediation-emulator/mediation/mediation/endpoint"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
)

// syncBuffer is a log sink the server's goroutines can share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) lines() []map[string]any {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b.buf.Bytes()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// TestTraceShowsBypassID: at debug level an operator finds a=x-bypassid in
// the INVITE, 183 and 200 of a bypassed call by its call id, with side and
// direction on every message.
func TestTraceShowsBypassID(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	var logs syncBuffer
	lab := mediationtest.Start(t, mediationtest.Options{Log: zerolog.New(&logs).Level(zerolog.DebugLevel)})
	client := startClient(t, ctx, mediationtest.DefaultBypassID)
	rep, err := client.Call(ctx, endpoint.CallOptions{Target: lab.Server.EdgeAddr(), Duration: 200 * time.Millisecond})
	if err != nil || rep.Code != 200 {
		t.Fatalf("call: %d %v", rep.Code, err)
	}
	if _, err := lab.SBC.NextCall(ctx); err != nil {
		t.Fatal(err)
	}
	mediationtest.WaitMetric(t, lab.Server, 0, "mediationserver_calls_current", "direction", "outbound")
	want := map[string]bool{"in INVITE": false, "out SIP/2.0 183": false, "out SIP/2.0 200": false}
	callID := ""
	for _, l := range logs.lines() {
		msg, _ := l["sip"].(string)
		if msg == "" || l["side"] != "edge" || l["sip_call_id"] != rep.CallID {
			continue
		}
		if l["call"] == nil || l["dir"] == nil {
			t.Fatalf("trace line without call id or direction: %v", l)
		}
		if callID == "" {
			callID, _ = l["call"].(string)
		}
		if l["call"] != callID {
			t.Fatalf("one call logged under two ids: %v and %v", callID, l["call"])
		}
		for k := range want {
			dir, start, _ := strings.Cut(k, " ")
			if l["dir"] == dir && strings.HasPrefix(msg, start) && strings.Contains(msg, "a=x-bypassid:"+mediationtest.DefaultBypassID) {
				want[k] = true
			}
		}
	}
	for k, found := range want {
		if !found {
			t.Errorf("no %s with a=x-bypassid in the trace of call %s", k, callID)
		}
	}
}

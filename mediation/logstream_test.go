package mediation_test

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/endpoint"
	"github.com/mediation-emulator/mediation/mediation/ladder"
	"github.com/mediation-emulator/mediation/mediation/logstream"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
)

// streamLab is a lab whose console log is at info and whose live log is on
// the admin API.
func streamLab(t *testing.T, opt logstream.Options, configure func(*mediation.Config)) (*mediationtest.Lab, *logstream.Hub, *syncBuffer) {
	t.Helper()
	hub := logstream.New(opt)
	console := &syncBuffer{}
	lab := mediationtest.Start(t, mediationtest.Options{Log: hub.Logger(console, zerolog.InfoLevel), LogStream: hub, Configure: configure})
	return lab, hub, console
}

// openStream starts GET /log/stream and returns its lines after the first.
func openStream(t *testing.T, ctx context.Context, lab *mediationtest.Lab, query, token string) <-chan string {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+lab.Server.AdminAddr().String()+"/log/stream"+query, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		res.Body.Close()
		t.Fatalf("GET /log/stream: %s", res.Status)
	}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(nil, 4<<20)
	if !sc.Scan() || !strings.Contains(sc.Text(), logstream.MsgStarted) {
		res.Body.Close()
		t.Fatalf("first line %q", sc.Text())
	}
	lines := make(chan string, 1024)
	go func() {
		defer close(lines)
		defer res.Body.Close()
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
	}()
	return lines
}

// TestLogStreamCarriesTheSIPTraceAtInfo: with the console at info, the
// admin API's live log still carries each call's SIP messages, from which
// its ladder is rebuilt whole: a=x-bypassid in the INVITE, 183 and 200,
// and the bypass decision. The console gets no SIP message.
func TestLogStreamCarriesTheSIPTraceAtInfo(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	lab, hub, console := streamLab(t, logstream.Options{}, nil)
	lines := openStream(t, ctx, lab, "", "")
	// A second subscriber that never reads holds up nothing.
	stalled, err := hub.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	client := startClient(t, ctx, mediationtest.DefaultBypassID)
	if _, err := client.Call(ctx, endpoint.CallOptions{Target: lab.Server.EdgeAddr(), Duration: 200 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	b := ladder.NewBuilder()
	var call *ladder.Call
	for call == nil {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("stream ended")
			}
			b.Line([]byte(l))
			for _, c := range b.Calls() {
				if c.Ended {
					call = c
				}
			}
		case <-ctx.Done():
			t.Fatal("no call ended on the stream")
		}
	}
	if !call.Decided || !call.Bypass || call.Reason != "id_matched" || !call.Answered {
		t.Errorf("call %+v; want answered, bypassed, id_matched", call)
	}
	marked := map[string]bool{}
	for _, m := range call.Messages {
		if m.Side == "edge" && m.Dir == "out" && m.BypassID == mediationtest.DefaultBypassID {
			marked[m.Label] = true
		}
		if m.Side == "edge" && m.Dir == "in" && m.Label == "INVITE" && m.BypassID == mediationtest.DefaultBypassID {
			marked["INVITE"] = true
		}
	}
	if !marked["INVITE"] || !marked["183 Session Progress"] || !marked["200 OK"] {
		t.Errorf("a=x-bypassid marked in %v; want the INVITE, 183 and 200 (%d messages)", marked, len(call.Messages))
	}
	if out := console.String(); strings.Contains(out, `"sip INVITE`) || !strings.Contains(out, `"call ended"`) {
		t.Errorf("console at info: SIP messages or no call end:\n%s", out)
	}
}

// TestLogStreamSlowSubscriber: a subscriber that reads nothing, its
// buffer long full, does not slow calls down, and the others still get
// every event.
func TestLogStreamSlowSubscriber(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	lab, hub, _ := streamLab(t, logstream.Options{Buffer: 16}, nil)
	stalled, err := hub.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	client := startClient(t, ctx, mediationtest.DefaultBypassID)
	// Each call logs more than 16 events (its SIP messages alone), so the
	// stalled buffer is full from the first.
	for range 3 {
		rep, err := client.Call(ctx, endpoint.CallOptions{Target: lab.Server.EdgeAddr(), Duration: 100 * time.Millisecond})
		if err != nil || rep.Code != 200 {
			t.Fatalf("call with a stalled subscriber: %d %v", rep.Code, err)
		}
	}
	lines := openStream(t, ctx, lab, "", "")
	rep, err := client.Call(ctx, endpoint.CallOptions{Target: lab.Server.EdgeAddr(), Duration: 100 * time.Millisecond})
	if err != nil || rep.Code != 200 {
		t.Fatalf("call: %d %v", rep.Code, err)
	}
	for {
		select {
		case l := <-lines:
			if strings.Contains(l, logstream.MsgDropped) {
				t.Fatalf("a reading subscriber lost events: %s", l)
			}
			if strings.Contains(l, `"call ended"`) {
				return
			}
		case <-ctx.Done():
			t.Fatal("the call's end never came on the stream")
		}
	}
}

// TestLogStreamNeedsTheToken: the stream is part of the admin API: with a
// token set (required off loopback) it answers 401 without it.
func TestLogStreamNeedsTheToken(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	const token = "stream-s3cret"
	lab, _, _ := streamLab(t, logstream.Options{}, func(c *mediation.Config) { c.Admin.Token = token })
	url := "http://" + lab.Server.AdminAddr().String() + "/log/stream"
	for _, auth := range []string{"", "Bearer wrong"} {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusUnauthorized {
			t.Errorf("Authorization %q: %s, want 401", auth, res.Status)
		}
	}
	openStream(t, ctx, lab, "", token)
}

// TestLogStreamAbsent: a server without SetLogStream says so.
func TestLogStreamAbsent(t *testing.T) {
	lab := mediationtest.Start(t, mediationtest.Options{})
	res, err := http.Get("http://" + lab.Server.AdminAddr().String() + "/log/stream")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Fatalf("%s, want 404", res.Status)
	}
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

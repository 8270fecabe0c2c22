package mediationtest_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/endpoint"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
	"github.com/mediation-emulator/mediation/sdp"
)

func testCtx(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// internalOnly makes 127.0.0.2 an external address, as in the demo.
func internalOnly(c *mediation.Config) { c.Bypass.InternalSubnets = []string{"127.0.0.1/32"} }

// The three kinds of client CCE tells apart, each calling out and being
// called, with what Cloud Connector does for them.
var kinds = []struct {
	name       string
	opt        mediationtest.ClientOptions
	wantStatus int // of the web service
	wantMedia  string
}{
	{"supported internal", mediationtest.ClientOptions{Version: mediationtest.SupportedVersion}, 200, mediationtest.MediaBypassed},
	{"Lync 2013", mediationtest.ClientOptions{Version: mediationtest.Lync2013Version}, 200, mediationtest.MediaAnchored},
	{"external", mediationtest.ClientOptions{SourceIP: netip.MustParseAddr("127.0.0.2")}, 403, mediationtest.MediaAnchored},
}

func TestClientKinds(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	lab := mediationtest.Start(t, mediationtest.Options{Configure: internalOnly})
	wantBypassed := 0.0
	for i, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			client, err := lab.NewEdgePeer(ctx, k.opt)
			if err != nil {
				t.Fatal(err)
			}
			if client.Grant.Status != k.wantStatus || client.Grant.Enabled != (k.wantMedia == mediationtest.MediaBypassed) {
				t.Fatalf("grant %+v, want status %d", client.Grant, k.wantStatus)
			}
			if lab.Client != client.Client {
				t.Fatal("Lab.Client is not the new edge peer")
			}
			out, err := lab.CallOut(ctx, client, endpoint.CallOptions{})
			checkCall(t, out, err, k.wantMedia)
			if got := offerBypassID(t, out.Client.OfferSDP); got != client.Grant.BypassID {
				t.Errorf("client offered a=x-bypassid %q, was granted %q", got, client.Grant.BypassID)
			}
			if !out.Client.MediaLocal.Addr().IsValid() || out.Client.MediaLocal.Addr() != client.SourceIP {
				t.Errorf("client media on %s, want its source address %s", out.Client.MediaLocal, client.SourceIP)
			}
			in, err := lab.CallIn(ctx, endpoint.CallOptions{})
			checkCall(t, in, err, k.wantMedia)
			if in.Client.BypassAnswered != client.Grant.Enabled {
				t.Errorf("client answered with a=x-bypassid: %v, granted %v", in.Client.BypassAnswered, client.Grant.Enabled)
			}
			if k.wantMedia == mediationtest.MediaBypassed {
				wantBypassed++
			}
			for _, dir := range []string{"inbound", "outbound"} {
				mediationtest.WaitMetric(t, lab.Server, float64(i+1), "mediationserver_calls_total", "direction", dir)
				mediationtest.WaitMetric(t, lab.Server, wantBypassed, "mediationserver_media_bypass_calls_total", "direction", dir)
				mediationtest.WaitMetric(t, lab.Server, 0, "mediationserver_calls_current", "direction", dir)
			}
		})
	}
}

func checkCall(t *testing.T, r mediationtest.CallResult, err error, wantMedia string) {
	t.Helper()
	if err != nil || !r.Answered() {
		t.Fatalf("%s call: err %v, client %d, SBC %d", r.Direction, err, r.Client.Code, r.SBC.Code)
	}
	if r.Media() != wantMedia {
		t.Errorf("%s call: media %s (%s), want %s", r.Direction, r.Media(), r.Path(), wantMedia)
	}
	if !r.AudioOK() {
		t.Errorf("%s call: client heard %.0f Hz (want %.0f), SBC heard %.0f Hz (want %.0f)",
			r.Direction, r.Client.DetectedHz, r.SBCHz, r.SBC.DetectedHz, r.ClientHz)
	}
	if r.Client.To != r.SBC.To || r.Client.To == "" {
		t.Errorf("%s call: the two reports are of different calls: client To %q, SBC To %q", r.Direction, r.Client.To, r.SBC.To)
	}
	toSBC, toClient := r.Loss()
	if toSBC < 0 || toSBC > 0.2 || toClient < 0 || toClient > 0.2 {
		t.Errorf("%s call: loss %.2f to the SBC, %.2f to the client", r.Direction, toSBC, toClient)
	}
}

func offerBypassID(t *testing.T, body []byte) string {
	t.Helper()
	m, err := sdp.Parse(body)
	if err != nil {
		t.Fatalf("client offer: %v", err)
	}
	return m.BypassID
}

// TestCallRejected: a call the SBC refuses still returns both reports, and
// CallOut does not wait for a report that cannot come.
func TestCallRejected(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	lab := mediationtest.Start(t, mediationtest.Options{SBC: endpoint.SBCConfig{Reject: 486}})
	client, err := lab.NewClient(ctx, mediationtest.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := lab.CallOut(ctx, client, endpoint.CallOptions{})
	if err != nil || r.Client.Code != 486 || r.SBC.Code != 486 || r.Answered() || r.Media() != mediationtest.MediaNone {
		t.Fatalf("err %v, client %d, SBC %d, media %s; want 486 at both ends and no media", err, r.Client.Code, r.SBC.Code, r.Media())
	}
	// The SBC set up no media socket: its address reads "none".
	if p := r.Path(); !strings.Contains(p, "<-> SBC none: no RTP received by either end") || strings.Contains(p, "invalid") {
		t.Errorf("Path() = %q, want the SBC's media address as none", p)
	}
}

// TestSBCLogOption: a non-zero Options.SBC.Log is where the SBC logs.
func TestSBCLogOption(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	// Written by the lab's goroutines (and by sipgo's, which may still log
	// a transaction's end after Close), read under the same lock.
	var sbcLog, all lockedBuffer
	lab := mediationtest.Start(t, mediationtest.Options{Log: zerolog.New(&all),
		SBC: endpoint.SBCConfig{Log: zerolog.New(&sbcLog).Level(zerolog.DebugLevel)}})
	client, err := lab.NewClient(ctx, mediationtest.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lab.CallOut(ctx, client, endpoint.CallOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := lab.Close(); err != nil {
		t.Fatal(err)
	}
	if got := sbcLog.String(); !strings.Contains(got, `"endpoint":"sbc"`) {
		t.Errorf("Options.SBC.Log got %q, want the SBC's lines", got)
	}
	if strings.Contains(all.String(), `"endpoint":"sbc"`) {
		t.Errorf("the SBC's lines went to Options.Log too")
	}
}

// fatalRecorder is a TB that keeps the failure message; Fatal ends the
// goroutine, as testing's does.
type fatalRecorder struct{ msg string }

func (r *fatalRecorder) Helper()                        {}
func (r *fatalRecorder) Cleanup(func())                 {}
func (r *fatalRecorder) Errorf(format string, a ...any) { r.msg = fmt.Sprintf(format, a...) }
func (r *fatalRecorder) Fatalf(format string, a ...any) {
	r.msg = fmt.Sprintf(format, a...)
	runtime.Goexit()
}

func (r *fatalRecorder) Fatal(a ...any) {
	r.msg = fmt.Sprint(a...)
	runtime.Goexit()
}

// TestHelpersFailOnce: Start and Serve fail with one "mediationtest: "
// prefix.
func TestHelpersFailOnce(t *testing.T) {
	badPorts := func(c *mediation.Config) { c.Media.Ports = "9-3" }
	for name, run := range map[string]func(mediationtest.TB){
		"Start": func(tb mediationtest.TB) { mediationtest.Start(tb, mediationtest.Options{Configure: badPorts}) },
		"Serve": func(tb mediationtest.TB) {
			cfg := mediation.DefaultConfig()
			badPorts(cfg)
			mediationtest.Serve(tb, cfg, zerolog.Nop())
		},
	} {
		var r fatalRecorder
		done := make(chan struct{})
		go func() { defer close(done); run(&r) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Fatalf("%s did not fail", name)
		}
		if !strings.HasPrefix(r.msg, "mediationtest: config: media.ports: ") || strings.Count(r.msg, "mediationtest:") != 1 {
			t.Errorf("%s failed with %q, want one mediationtest: prefix and the config error", name, r.msg)
		}
	}
}

// TestNewClientAfterClose: a closed lab says so.
func TestNewClientAfterClose(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	lab, err := mediationtest.New(ctx, mediationtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := lab.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := lab.NewClient(ctx, mediationtest.ClientOptions{}); err == nil || err.Error() != "mediationtest: lab closed" {
		t.Errorf("NewClient after Close: %v, want mediationtest: lab closed", err)
	}
	if _, err := lab.NewEdgePeer(ctx, mediationtest.ClientOptions{}); err == nil || err.Error() != "mediationtest: lab closed" {
		t.Errorf("NewEdgePeer after Close: %v, want mediationtest: lab closed", err)
	}
}

// TestCallNeverReachesFarEnd: a call the server cannot forward leaves the
// far end's report zero, without waiting for the test's deadline.
func TestCallNeverReachesFarEnd(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	lab := mediationtest.Start(t, mediationtest.Options{GatewayTransport: "tcp", Configure: func(c *mediation.Config) {
		c.Gateways[0].Address = closed
	}})
	client, err := lab.NewClient(ctx, mediationtest.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := lab.CallOut(ctx, client, endpoint.CallOptions{})
	if err != nil || r.Client.Code != 503 || r.SBC.CallID != "" || r.SBC.Code != 0 {
		t.Fatalf("err %v, client %d, SBC report %+v; want 503 and no SBC report", err, r.Client.Code, r.SBC)
	}
}

func TestNewEndsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	lab, err := mediationtest.New(ctx, mediationtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	done := make(chan error, 1)
	go func() { done <- lab.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Close did not return")
	}
	if err := lab.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := lab.SBC.Call(testCtx(t, 5*time.Second), endpoint.CallOptions{Target: lab.Client.Addr()}); !errors.Is(err, endpoint.ErrClosed) {
		t.Errorf("SBC still places calls after the lab ended: %v", err)
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	_, err := mediationtest.New(context.Background(), mediationtest.Options{Configure: func(c *mediation.Config) { c.Media.IP = "nowhere" }})
	if err == nil || !strings.Contains(err.Error(), "media.ip") {
		t.Fatalf("err = %v, want the config error", err)
	}
}

func TestAwaitMetric(t *testing.T) {
	lab := mediationtest.Start(t, mediationtest.Options{})
	ctx := testCtx(t, 10*time.Second)
	if err := mediationtest.AwaitMetric(ctx, lab.Server, 0, "mediationserver_calls_total", "direction", "inbound"); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	err := mediationtest.AwaitMetric(short, lab.Server, 1, "mediationserver_calls_total", "direction", "inbound")
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "want 1") {
		t.Fatalf("err = %v, want a deadline error saying what was awaited", err)
	}
}

// lockedBuffer is a log destination that goroutines write while a test
// reads it.
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

package main

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/mediation-emulator/mediation/mediation/endpoint"
	"github.com/mediation-emulator/mediation/mediation/hybridconfig"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
)

// TestClientInterruptedOnlyCall: a client whose only call (the default
// --calls 1) is ringing when SIGINT comes CANCELs it, reports it, exits 1
// and says on stderr that it was interrupted, with that call cut short
// (r25-bench F5: the cancelled call counted as done, and nothing was
// said).
func TestClientInterruptedOnlyCall(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	lab := mediationtest.Start(t, mediationtest.Options{SBC: endpoint.SBCConfig{NoAnswer: true}})
	p := startProc(t, "client", "--via", lab.Server.EdgeAddr().String(), "--web-service", mediationtest.URL(lab.Server, hybridconfig.Path))
	ringing := func() bool {
		v, err := mediationtest.Metric(lab.Server, "mediationserver_calls_current", "direction", "outbound")
		return p.exited() || err == nil && v == 1
	}
	if err := poll(ctx, ringing); err != nil || p.exited() {
		t.Fatalf("call not ringing: %v (stderr %q)", err, p.stderr.String())
	}
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	const want = "mediation: client: interrupted: 1 of 1 calls placed, the last one cut short\n"
	if code := p.wait(ctx, t); code != 1 || p.stderr.String() != want {
		t.Fatalf("exit %d stderr %q; want 1 and %q", code, p.stderr.String(), want)
	}
	mediationtest.WaitMetric(t, lab.Server, 1, "mediationserver_failed_calls_total", "direction", "outbound", "reason", "canceled")
}

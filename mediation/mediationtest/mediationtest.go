// Package mediationtest runs a mediation server in-process on ephemeral
// loopback ports, with a simulated SBC on its gateway side and a simulated
// Skype for Business client as its edge next hop, for tests — in the spirit
// of net/http/httptest. Everything it starts is stopped by t.Cleanup.
package mediationtest

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/rs/zerolog"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/endpoint"
)

// DefaultBypassID is the bypass ID of the embedded default configuration.
const DefaultBypassID = "be38f190-a24a-4a72-b66c-b09fd0909ebc"

var loopback = netip.MustParseAddr("127.0.0.1")

// Options shape a lab. The zero value is the embedded default: bypass on,
// UDP everywhere.
type Options struct {
	// BypassDisabled turns MediaBypassSettings.Enabled off.
	BypassDisabled bool
	// GatewayTransport is how the server reaches the SBC: "udp" (default) or "tcp".
	GatewayTransport string
	// EdgeTransport is how the server reaches the edge next hop: "udp" (default) or "tcp".
	EdgeTransport string
	// ClientBypassID is the bypass ID the edge next hop's client puts in its
	// answers to inbound calls; "" plays a client that did not get bypass.
	ClientBypassID string
	// SBC tunes the simulated SBC (Listen and MediaIP are set by the lab).
	SBC endpoint.SBCConfig
	// Configure edits the server's config last, before it is validated.
	Configure func(*mediation.Config)
	// Log receives every component's log; the default discards it.
	Log zerolog.Logger
}

// Lab is a running mediation server with its simulated neighbours.
type Lab struct {
	Server *mediation.Server
	Config *mediation.Config
	// SBC answers the server's outbound calls and can place inbound ones.
	SBC *endpoint.SBC
	// Client is the edge next hop: it answers the server's inbound calls.
	Client *endpoint.Client
}

// Start builds a lab and registers its teardown with t.Cleanup.
func Start(t testing.TB, opt Options) *Lab {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	sbcCfg := opt.SBC
	sbcCfg.Listen = "127.0.0.1:0"
	sbcCfg.MediaIP = loopback
	sbcCfg.Log = opt.Log.With().Str("endpoint", "sbc").Logger()
	sbc, err := endpoint.StartSBC(ctx, sbcCfg)
	if err != nil {
		t.Fatalf("mediationtest: start SBC: %v", err)
	}
	t.Cleanup(func() { sbc.Close() })
	client, err := endpoint.StartClient(ctx, endpoint.ClientConfig{
		Listen: "127.0.0.1:0", MediaIP: loopback, BypassID: opt.ClientBypassID,
		Log: opt.Log.With().Str("endpoint", "edge-client").Logger(),
	})
	if err != nil {
		t.Fatalf("mediationtest: start client: %v", err)
	}
	t.Cleanup(func() { client.Close() })

	cfg := mediation.DefaultConfig()
	cfg.Edge.Listen = "127.0.0.1:0"
	cfg.GatewayListen = "127.0.0.1:0"
	cfg.HTTPListen = "127.0.0.1:0"
	cfg.Edge.Peer = client.Addr().String()
	cfg.Edge.PeerTransport = orDefault(opt.EdgeTransport, "udp")
	cfg.Gateways[0].Address = sbc.Addr().String()
	cfg.Gateways[0].Transport = orDefault(opt.GatewayTransport, "udp")
	cfg.Bypass.Enabled = !opt.BypassDisabled
	if opt.Configure != nil {
		opt.Configure(cfg)
	}
	return &Lab{Server: Serve(t, cfg, opt.Log), Config: cfg, SBC: sbc, Client: client}
}

// Serve runs a mediation server on cfg until the test ends, and returns it
// once its listeners are bound.
func Serve(t testing.TB, cfg *mediation.Config, log zerolog.Logger) *mediation.Server {
	t.Helper()
	srv, err := mediation.NewServer(cfg, log)
	if err != nil {
		t.Fatalf("mediationtest: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("mediationtest: server stopped with %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("mediationtest: server did not stop within 30s")
		}
	})
	select {
	case <-srv.Ready():
	case err := <-done:
		t.Fatalf("mediationtest: server failed to start: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatalf("mediationtest: server not ready within 10s")
	}
	return srv
}

// Metric reads one sample of the server's /metrics over HTTP: name with
// label pairs, e.g. Metric("mediationserver_calls_total", "direction", "inbound").
// A metric or series that does not exist reads as 0.
func Metric(srv *mediation.Server, name string, labels ...string) (float64, error) {
	res, err := metricsClient.Get(URL(srv, "/metrics"))
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(res.Body)
	if err != nil {
		return 0, fmt.Errorf("parse /metrics: %w", err)
	}
	fam, ok := families[name]
	if !ok {
		return 0, nil
	}
next:
	for _, m := range fam.GetMetric() {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, lp := range m.GetLabel() {
				if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.GetCounter() != nil:
			return m.GetCounter().GetValue(), nil
		case m.GetGauge() != nil:
			return m.GetGauge().GetValue(), nil
		}
	}
	return 0, nil
}

// metricsClient keeps no idle connections: each lab's server is gone at the
// end of its test, and goroutine-leak checks must not see its keep-alives.
var metricsClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// URL is an HTTP URL on the server's web listener.
func URL(srv *mediation.Server, path string) string {
	return "http://" + srv.HTTPAddr().String() + "/" + strings.TrimPrefix(path, "/")
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// WaitMetric polls a metric until it reads want, failing the test after
// 10 s. The server updates its counters as a call's last message is handled,
// which can be just after the endpoints report the call.
func WaitMetric(t testing.TB, srv *mediation.Server, want float64, name string, labels ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := Metric(srv, name, labels...)
		if err != nil {
			t.Fatal(err)
		}
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s%v = %v, want %v", name, labels, got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

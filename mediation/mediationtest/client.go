package mediationtest

// This file starts simulated clients of the three kinds CCE tells apart:
// supported internal (bypass), unsupported (Lync 2013) and external.

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"syscall"
	"time"

	"github.com/mediation-emulator/mediation/mediation/endpoint"
	"github.com/mediation-emulator/mediation/mediation/hybridconfig"
)

// Client builds the lab knows by name.
const (
	// SupportedVersion is the first Skype for Business build CCE bypasses.
	SupportedVersion = "16.0.7870.2020"
	// Lync2013Version is a Lync 2013 client: the web service grants it no bypass.
	Lync2013Version = "15.0.4420.1017"
)

// ClientOptions describe a simulated client by what CCE judges it on: its
// build (in the User-Agent) and the address it reaches the web service from.
type ClientOptions struct {
	// Version is the Skype for Business build; default SupportedVersion.
	Version string
	// SourceIP is the client's address for the web-service fetch, SIP and
	// RTP; default 127.0.0.1. Outside the server's bypass.internal_subnets
	// (e.g. 127.0.0.2 with internal_subnets [127.0.0.1/32]) it plays an
	// external client.
	SourceIP netip.Addr
	// WebServiceURL defaults to the lab server's own bypass web service.
	WebServiceURL string
	// Codecs, when not empty, are the only codecs the client offers, in
	// this order: "G722", "PCMU", "PCMA" (endpoint.ClientConfig.Codecs);
	// nil offers Skype for Business's full list.
	Codecs []string
	// ToneHz is the tone the client sends; default DefaultClientHz.
	ToneHz float64
}

// Client is a simulated Skype for Business client that asked the bypass web
// service before it started, as a real one does at sign-in.
type Client struct {
	*endpoint.Client
	// Grant is the web service's answer; the client offers a=x-bypassid
	// exactly when Grant.Enabled.
	Grant endpoint.BypassGrant
	// UserAgent is what the client sent to the web service and in SIP.
	UserAgent string
	// SourceIP is the client's media (and web-service source) address.
	SourceIP netip.Addr
	// ToneHz is the tone the client sends.
	ToneHz float64
}

// NewClient fetches the bypass web service as opt describes and starts a
// client with the answer, on an ephemeral port of opt.SourceIP. ctx bounds
// the fetch; the client lives until its Close or the lab's.
func (l *Lab) NewClient(ctx context.Context, opt ClientOptions) (*Client, error) {
	l.mu.Lock()
	err := l.alive()
	l.mu.Unlock()
	if err != nil {
		return nil, err
	}
	opt = l.clientDefaults(opt)
	c, err := l.startClient(ctx, opt, netip.AddrPortFrom(opt.SourceIP, 0).String())
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	// Closed meanwhile: Close has taken the list of clients to close.
	if err := l.alive(); err != nil {
		_ = c.Close()
		return nil, err
	}
	l.clients = append(l.clients, c)
	return c, nil
}

// NewEdgePeer replaces the lab's edge next hop (Lab.Client, which answers
// the server's inbound calls) with a client that fetched the web service as
// opt describes. The new client takes over the old one's SIP address, which
// is the server's edge.peer; its media and web-service fetch use
// opt.SourceIP. It must not be called while an inbound call is in progress.
func (l *Lab) NewEdgePeer(ctx context.Context, opt ClientOptions) (*Client, error) {
	opt = l.clientDefaults(opt)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.alive(); err != nil {
		return nil, err
	}
	old := l.edge
	grant, ua, err := l.fetch(ctx, opt)
	if err != nil {
		return nil, err
	}
	// The old client must let go of the address before the new one binds it.
	if err := old.Close(); err != nil {
		return nil, fmt.Errorf("mediationtest: close edge peer: %w", err)
	}
	c, err := l.bindClient(ctx, opt, old.Addr().String(), grant, ua)
	if err != nil {
		return nil, err
	}
	l.edge, l.Client = c, c.Client
	l.clients = append(l.clients, c)
	return c, nil
}

// setEdge records the first edge next hop.
func (l *Lab) setEdge(c *Client) {
	l.mu.Lock()
	l.edge, l.Client = c, c.Client
	l.clients = append(l.clients, c)
	l.mu.Unlock()
}

// edgePeer is the current edge next hop.
func (l *Lab) edgePeer() *Client {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.edge
}

func (l *Lab) clientDefaults(opt ClientOptions) ClientOptions {
	if opt.Version == "" {
		opt.Version = SupportedVersion
	}
	if !opt.SourceIP.IsValid() {
		opt.SourceIP = loopback
	}
	if opt.WebServiceURL == "" {
		opt.WebServiceURL = URL(l.Server, hybridconfig.Path)
	}
	if opt.ToneHz <= 0 {
		opt.ToneHz = DefaultClientHz
	}
	return opt
}

func (l *Lab) startClient(ctx context.Context, opt ClientOptions, listen string) (*Client, error) {
	grant, ua, err := l.fetch(ctx, opt)
	if err != nil {
		return nil, err
	}
	return l.bindClient(ctx, opt, listen, grant, ua)
}

// fetch asks the web service, as the client will introduce itself.
func (l *Lab) fetch(ctx context.Context, opt ClientOptions) (endpoint.BypassGrant, string, error) {
	ua := endpoint.SfBUserAgent(opt.Version)
	grant, err := endpoint.FetchBypass(ctx, opt.WebServiceURL, ua, opt.SourceIP)
	if err != nil {
		return grant, ua, fmt.Errorf("mediationtest: client %s from %s: %w", opt.Version, opt.SourceIP, err)
	}
	return grant, ua, nil
}

// rebindAttempts bounds the retries of binding a just-released address.
const rebindAttempts = 10

// bindClient starts the endpoint with what the web service said. Binding a
// fixed address is retried briefly: the kernel may not have released it yet
// when the previous holder just closed.
func (l *Lab) bindClient(ctx context.Context, opt ClientOptions, listen string, grant endpoint.BypassGrant, ua string) (*Client, error) {
	cfg := endpoint.ClientConfig{
		Listen: listen, MediaIP: opt.SourceIP, BypassID: grant.BypassID, UserAgent: ua, ToneHz: opt.ToneHz, Codecs: opt.Codecs,
		Log: l.log.With().Str("endpoint", "client").Str("version", opt.Version).Stringer("source", opt.SourceIP).Logger(),
	}
	var (
		ec  *endpoint.Client
		err error
	)
	for attempt := 0; attempt < rebindAttempts; attempt++ {
		if ec, err = endpoint.StartClient(l.life, cfg); err == nil || !errors.Is(err, syscall.EADDRINUSE) {
			break
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("mediationtest: start client on %s: %w", listen, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	if err != nil {
		return nil, fmt.Errorf("mediationtest: start client on %s: %w", listen, err)
	}
	return &Client{Client: ec, Grant: grant, UserAgent: ua, SourceIP: opt.SourceIP, ToneHz: opt.ToneHz}, nil
}

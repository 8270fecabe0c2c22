package endpoint

// This file is the client side of the CCE media bypass web service: what a
// Skype for Business client does before it may put a=x-bypassid in its SDP.

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"syscall"
	"time"

	"github.com/mediation-emulator/mediation/mediation/hybridconfig"
)

// BypassGrant is what a client learned from the bypass web service.
type BypassGrant struct {
	// Enabled tells whether the client may offer media bypass with BypassID.
	Enabled bool
	// BypassID is the ID to put in a=x-bypassid; "" unless Enabled.
	BypassID string
	// Status is the HTTP status code, 0 when the service could not be reached.
	Status int
	// Reason says in a few words why bypass was or was not granted, for reports.
	Reason string
}

// SfBUserAgent is the User-Agent a Skype for Business client of the given
// build sends, e.g. SfBUserAgent("16.0.7870.2020") is DefaultClientUserAgent.
// The web service decides on the build number in it (16.0.7870.2020 or newer
// may bypass), so "15.0.4420.1017" plays a Lync 2013 client.
func SfBUserAgent(version string) string {
	return "UCCAPI/" + version + " OC/" + version + " (Skype for Business)"
}

// maxDocument bounds the body read: the real document is a few hundred bytes.
const maxDocument = 64 << 10

// FetchBypass asks the web service at rawURL (the tenant's
// HybridConfigServiceInternalUrl) whether a client with this User-Agent may
// use media bypass, connecting from localAddr (any local address when
// invalid) so that a lab can play an external client from an address outside
// the internal subnets.
//
// As in Cloud Connector, a client that is refused (403) or cannot reach the
// service at all is simply external: that is a grant with Enabled false and
// Status 403 or 0, not an error. Errors are for a URL that cannot be used, a
// local address that does not exist on this host, and a 200 whose body is not
// the service's document.
func FetchBypass(ctx context.Context, rawURL, userAgent string, localAddr netip.Addr) (BypassGrant, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return BypassGrant{}, fmt.Errorf("bypass web service: %q is not an http(s) URL", rawURL)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return BypassGrant{}, fmt.Errorf("bypass web service %s: %w", rawURL, err)
	}
	req.Header.Set("User-Agent", userAgent)
	transport := webServiceTransport(localAddr)
	defer transport.CloseIdleConnections()
	res, err := (&http.Client{Transport: transport, Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		if errors.Is(err, syscall.EADDRNOTAVAIL) {
			return BypassGrant{}, fmt.Errorf("bypass web service: source address %s: %w", localAddr, err)
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return BypassGrant{}, fmt.Errorf("bypass web service %s: %w", rawURL, ctxErr)
		}
		return BypassGrant{Reason: "web service unreachable (" + err.Error() + "): external client"}, nil
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, maxDocument))
	if err != nil {
		return BypassGrant{Status: res.StatusCode}, fmt.Errorf("bypass web service %s: read body: %w", rawURL, err)
	}
	return grantFrom(res.StatusCode, body)
}

// webServiceTransport dials from localAddr and keeps no connection: a client
// fetches once per sign-in, and a kept connection would outlive the lab.
func webServiceTransport(localAddr netip.Addr) *http.Transport {
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	if localAddr.IsValid() {
		dialer.LocalAddr = &net.TCPAddr{IP: localAddr.AsSlice(), Zone: localAddr.Zone()}
	}
	// No proxy: the source address of the connection is what the service judges.
	return &http.Transport{DialContext: dialer.DialContext, DisableKeepAlives: true, Proxy: nil}
}

// grantFrom reads a response of the web service.
func grantFrom(status int, body []byte) (BypassGrant, error) {
	g := BypassGrant{Status: status}
	switch {
	case status == http.StatusForbidden:
		g.Reason = "web service refused the client (403): external client"
		return g, nil
	case status != http.StatusOK:
		g.Reason = fmt.Sprintf("web service answered %d %s: no bypass", status, http.StatusText(status))
		return g, nil
	}
	var doc hybridconfig.Document
	if err := xml.Unmarshal(body, &doc); err != nil {
		g.Reason = "web service document unreadable: no bypass"
		return g, fmt.Errorf("bypass web service: parse document: %w", err)
	}
	if !doc.MediaBypass.Usable() {
		g.Reason = "web service: bypass not enabled for this client"
		return g, nil
	}
	g.Enabled, g.BypassID = true, doc.MediaBypass.BypassID
	g.Reason = "web service granted bypass"
	return g, nil
}

package mediationtest

// This file places calls through the lab's server and judges, from both
// ends' reports, which way the media went.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"time"

	"github.com/mediation-emulator/mediation/mediation/endpoint"
)

// Call directions, as the server's counters name them.
const (
	// Outbound is client -> PSTN: the client calls through the edge side.
	Outbound = "outbound"
	// Inbound is PSTN -> client: the SBC calls through the gateway side.
	Inbound = "inbound"
)

// Media paths of a call (CallResult.Media).
const (
	// MediaBypassed: each end received RTP from the other's own address.
	MediaBypassed = "bypassed"
	// MediaAnchored: each end received RTP from elsewhere, the mediation
	// server's relay ports.
	MediaAnchored = "anchored"
	// MediaNone: an end received no RTP at all.
	MediaNone = "no media"
	// MediaMixed: one direction was direct and the other relayed, which no
	// correct server does.
	MediaMixed = "mixed"
)

// CallResult is one call seen from both ends. On loopback every address is
// 127.0.0.1, so the media path is judged by comparing whole addresses: where
// each end received RTP from against where the other end sent it from.
type CallResult struct {
	// Direction is Outbound or Inbound.
	Direction string
	// Client and SBC are each end's report; a zero report (Code 0, no
	// CallID) means that end never saw the call.
	Client, SBC endpoint.CallReport
	// ClientHz and SBCHz are the tones the two ends sent.
	ClientHz, SBCHz float64
}

// Answered tells whether both ends had the call answered (200).
func (r CallResult) Answered() bool {
	return r.Client.Code == 200 && r.SBC.Code == 200
}

// Media is MediaBypassed, MediaAnchored, MediaNone or MediaMixed.
func (r CallResult) Media() string {
	c, s := r.Client, r.SBC
	if !c.MediaFrom.IsValid() || !s.MediaFrom.IsValid() {
		return MediaNone
	}
	toSBCDirect := s.MediaFrom == c.MediaLocal
	toClientDirect := c.MediaFrom == s.MediaLocal
	switch {
	case toSBCDirect && toClientDirect:
		return MediaBypassed
	case !toSBCDirect && !toClientDirect:
		return MediaAnchored
	}
	return MediaMixed
}

// Path draws the media path with the addresses RTP was seen on, e.g.
// "client 127.0.0.1:40000 <-> SBC 127.0.0.1:41000" or
// "client 127.0.0.1:40000 <-> mediation 127.0.0.1:49154 | 49152 <-> SBC 127.0.0.1:41000".
// An end that set up no media socket (a rejected call) reads "none":
// "client 127.0.0.1:40000 <-> SBC none: no RTP received by either end".
func (r CallResult) Path() string {
	c, s := r.Client, r.SBC
	cl, sl := addrOrNone(c.MediaLocal), addrOrNone(s.MediaLocal)
	switch r.Media() {
	case MediaBypassed:
		return fmt.Sprintf("client %s <-> SBC %s", cl, sl)
	case MediaAnchored:
		return fmt.Sprintf("client %s <-> mediation %s <-> SBC %s", cl, relayPorts(c.MediaFrom, s.MediaFrom), sl)
	case MediaMixed:
		return fmt.Sprintf("client %s got RTP from %s, SBC %s got RTP from %s", cl, c.MediaFrom, sl, s.MediaFrom)
	}
	return fmt.Sprintf("client %s <-> SBC %s: no RTP received by %s", cl, sl, r.silentEnd())
}

// addrOrNone writes an address, "none" when it was never set (the zero
// netip.AddrPort would print as "invalid AddrPort").
func addrOrNone(ap netip.AddrPort) string {
	if !ap.IsValid() {
		return "none"
	}
	return ap.String()
}

// relayPorts writes the server's edge-side and gateway-side media addresses,
// shortening the second to its port when both share the IP.
func relayPorts(edge, gw netip.AddrPort) string {
	if edge.Addr() == gw.Addr() {
		return fmt.Sprintf("%s | %d", edge, gw.Port())
	}
	return fmt.Sprintf("%s | %s", edge, gw)
}

func (r CallResult) silentEnd() string {
	switch {
	case !r.Client.MediaFrom.IsValid() && !r.SBC.MediaFrom.IsValid():
		return "either end"
	case !r.Client.MediaFrom.IsValid():
		return "the client"
	}
	return "the SBC"
}

// AudioOK tells whether each end heard the other's tone within ToneTolerance.
func (r CallResult) AudioOK() bool {
	return heard(r.Client, r.SBCHz) && heard(r.SBC, r.ClientHz)
}

func heard(rep endpoint.CallReport, want float64) bool {
	return rep.PacketsReceived > 0 && math.Abs(rep.DetectedHz-want) <= ToneTolerance
}

// Loss is the share (0..1) of the RTP packets sent one way that the
// receiving end found missing by their sequence numbers (RFC 3550 A.3:
// CallReport.PacketsLost of PacketsExpected), per direction; -1 when that
// end received nothing. Packets in flight when the call ended are not lost.
func (r CallResult) Loss() (toSBC, toClient float64) {
	return loss(r.SBC), loss(r.Client)
}

func loss(rep endpoint.CallReport) float64 {
	if rep.PacketsExpected <= 0 {
		return -1
	}
	return float64(rep.PacketsLost) / float64(rep.PacketsExpected)
}

// Jitter is the RFC 3550 interarrival jitter each end measured on the
// audio it received: towards the SBC and towards the client.
func (r CallResult) Jitter() (toSBC, toClient time.Duration) {
	return r.SBC.Jitter, r.Client.Jitter
}

// unansweredWait bounds how long a call that was not answered waits for the
// far end's report: the server may have refused the call before the far end
// saw it.
const unansweredWait = 3 * time.Second

// CallOut places a call from c to the PSTN through the server's edge side
// and returns both ends' reports. opt.Target defaults to the server's edge
// address and opt.To to a number unique in the lab, by which the SBC's
// report is found. The error is the first end's report error, or why the far
// end's report is missing. CallOut and CallIn are not meant to run
// concurrently; use the endpoints directly for parallel calls.
func (l *Lab) CallOut(ctx context.Context, c *Client, opt endpoint.CallOptions) (CallResult, error) {
	if !opt.Target.IsValid() {
		opt.Target = l.Server.EdgeAddr()
	}
	if opt.To == "" {
		opt.To = l.nextNumber()
	}
	res := CallResult{Direction: Outbound, ClientHz: c.ToneHz, SBCHz: l.sbcHz}
	rep, err := c.Call(ctx, opt)
	res.Client = rep
	sbc, waitErr := farReport(ctx, l.SBC.NextCall, opt.To, rep.Code == 200)
	res.SBC = sbc
	return res, errors.Join(err, waitErr)
}

// CallIn places a call from the SBC through the server's gateway side to the
// edge next hop (Lab.Client, see NewEdgePeer) and returns both ends' reports.
// Defaults and errors are as for CallOut.
func (l *Lab) CallIn(ctx context.Context, opt endpoint.CallOptions) (CallResult, error) {
	edge := l.edgePeer()
	if !opt.Target.IsValid() {
		opt.Target = l.Server.GatewayAddr()
	}
	if opt.To == "" {
		opt.To = l.nextNumber()
	}
	res := CallResult{Direction: Inbound, ClientHz: edge.ToneHz, SBCHz: l.sbcHz}
	rep, err := l.SBC.Call(ctx, opt)
	res.SBC = rep
	client, waitErr := farReport(ctx, edge.NextCall, opt.To, rep.Code == 200)
	res.Client = client
	return res, errors.Join(err, waitErr)
}

// nextNumber is a called number no other call of the lab used.
func (l *Lab) nextNumber() string {
	return fmt.Sprintf("+1555%07d", l.calls.Add(1))
}

// farReport waits for the report of the call to number, dropping reports of
// earlier calls (one that was not answered may report late). An answered
// call's far end must report; an unanswered one's only may.
func farReport(ctx context.Context, next func(context.Context) (endpoint.CallReport, error), number string, answered bool) (endpoint.CallReport, error) {
	if !answered {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, unansweredWait)
		defer cancel()
	}
	for {
		rep, err := next(ctx)
		if err != nil {
			if !answered && errors.Is(err, context.DeadlineExceeded) {
				return endpoint.CallReport{ReceivedPT: -1, EventPT: -1}, nil
			}
			return endpoint.CallReport{ReceivedPT: -1, EventPT: -1}, fmt.Errorf("mediationtest: far end's report of the call to %s: %w", number, err)
		}
		if rep.To == number {
			return rep, nil
		}
	}
}

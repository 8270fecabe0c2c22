package mediation

import (
	"github.com/mediation-emulator/mediation/sdp"
)

// decision is the media bypass verdict for one call and why, for the log
// and the call record.
type decision struct {
	bypass bool
	reason string
}

// decideOutbound is CCE's rule for a client -> PSTN call: the mediation
// server compares the bypass ID of the client with the gateway's (there is
// one ID per deployment in CCE's AlwaysBypass mode). The gateway must be
// able to take media directly in G.711 over plain RTP.
func decideOutbound(s BypassSettings, trunkBypass bool, trunkSRTP string, offer sdp.Media) decision {
	switch {
	case !s.Enabled:
		return decision{false, "media bypass is disabled"}
	case !trunkBypass:
		return decision{false, "the gateway trunk has EnableBypass off"}
	case offer.BypassID == "":
		return decision{false, "the client offered no a=x-bypassid"}
	case !offer.HasBypassID(s.BypassID):
		return decision{false, "the client's a=x-bypassid does not match"}
	case len(offer.G711()) == 0:
		return decision{false, "the client offered no G.711"}
	case offer.RequiresSRTP() && (trunkSRTP == srtpOff || len(offer.SRTP()) == 0):
		return decision{false, "the client insists on " + offer.Proto + "; the gateway's SRTP is off"}
	case trunkSRTP == srtpRequired && len(offer.SRTP()) == 0:
		return decision{false, "the gateway requires SRTP; the client offered no usable a=crypto"}
	}
	return decision{true, "the client's a=x-bypassid matches"}
}

// inboundBypassID is the bypass ID offered to the client on a PSTN ->
// client call, "" when bypass cannot happen (then no a=x-bypassid is sent
// and the client cannot choose the gateway's address).
func inboundBypassID(s BypassSettings, trunkBypass bool) string {
	if !s.Enabled || !trunkBypass {
		return ""
	}
	return s.BypassID
}

// decideInbound is the client's side of the rule: on an inbound call the
// client compares its bypass ID with the gateway's, and says so by answering
// with the same a=x-bypassid.
func decideInbound(offeredID string, answer sdp.Media, needSRTP bool) decision {
	switch {
	case offeredID == "":
		return decision{false, "media bypass is disabled for this gateway"}
	case answer.BypassID == "":
		return decision{false, "the client answered without a=x-bypassid"}
	case !answer.HasBypassID(offeredID):
		return decision{false, "the client's a=x-bypassid does not match"}
	case len(answer.G711()) == 0:
		return decision{false, "the client answered no G.711"}
	case needSRTP && len(answer.SRTP()) == 0:
		return decision{false, "the gateway requires SRTP; the client answered without a=crypto"}
	}
	return decision{true, "the client answered with the matching a=x-bypassid"}
}

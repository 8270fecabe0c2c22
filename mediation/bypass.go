package mediation

import (
	"github.com/mediation-emulator/mediation/sdp"
)

// decision is the media bypass verdict for one call and why, for the log
// and the call record: code is one of the reason codes below (what
// `mediation trace` and the web page show), reason the sentence.
type decision struct {
	bypass bool
	code   string
	reason string
}

// Reason codes of a bypass decision.
const (
	reasonIDMatched      = "id_matched"
	reasonNoID           = "no_id"
	reasonIDMismatch     = "id_mismatch"
	reasonBypassDisabled = "bypass_disabled"
	reasonTrunkBypassOff = "trunk_bypass_off"
	reasonSRTPMismatch   = "srtp_mismatch"
	reasonDelayedOffer   = "delayed_offer"
	reasonNoG711         = "no_g711"
	reasonTransferred    = "transferred"
)

// transferred is the decision of a call the mediation server transferred
// itself (transfer.go): always anchored, whatever the trunk and the IDs.
var transferred = decision{false, reasonTransferred, "the mediation server performed a transfer: the call is anchored"}

// decide records the call's bypass decision and logs it when it is made
// or changes: the one event per call that says whether media bypasses the
// server and why.
func (p *mediaPlan) decide(d decision) {
	if d == p.decision {
		return
	}
	p.decision = d
	p.log.Info().Bool("bypass", d.bypass).Str("reason", d.code).Str("why", d.reason).Msg("media bypass decision")
}

// decideOutbound is CCE's rule for a client -> PSTN call: the mediation
// server compares the bypass ID of the client with the gateway's (there is
// one ID per deployment in CCE's AlwaysBypass mode). The gateway must be
// able to take media directly in G.711 over plain RTP.
func decideOutbound(s BypassSettings, trunkBypass bool, trunkSRTP string, trunkCodecs []string, offer sdp.Media) decision {
	switch {
	case !s.Enabled:
		return decision{false, reasonBypassDisabled, "media bypass is disabled"}
	case !trunkBypass:
		return decision{false, reasonTrunkBypassOff, "the gateway trunk has EnableBypass off"}
	case offer.BypassID == "":
		return decision{false, reasonNoID, "the client offered no a=x-bypassid"}
	case !offer.HasBypassID(s.BypassID):
		return decision{false, reasonIDMismatch, "the client's a=x-bypassid does not match"}
	case len(offer.G711()) == 0:
		return decision{false, reasonNoG711, "the client offered no G.711"}
	case len(sdp.G711Order(offer.G711(), trunkCodecs)) == 0:
		return decision{false, reasonNoG711, "the client offered none of the gateway trunk's codecs"}
	case offer.RequiresSRTP() && (trunkSRTP == srtpOff || len(offer.SRTP()) == 0):
		return decision{false, reasonSRTPMismatch, "the client insists on " + offer.Proto + "; the gateway's SRTP is off"}
	case trunkSRTP == srtpRequired && len(offer.SRTP()) == 0:
		return decision{false, reasonSRTPMismatch, "the gateway requires SRTP; the client offered no usable a=crypto"}
	}
	return decision{true, reasonIDMatched, "the client's a=x-bypassid matches"}
}

// inboundBypassID is the bypass ID offered to the client on a PSTN ->
// client call, "" when bypass cannot happen (then no a=x-bypassid is sent
// and the client cannot choose the gateway's address), with the decision
// that leaves the call anchored.
func inboundBypassID(s BypassSettings, trunkBypass bool) (string, decision) {
	switch {
	case !s.Enabled:
		return "", decision{false, reasonBypassDisabled, "media bypass is disabled"}
	case !trunkBypass:
		return "", decision{false, reasonTrunkBypassOff, "the gateway trunk has EnableBypass off"}
	}
	return s.BypassID, decision{}
}

// decideInbound is the client's side of the rule (none: the decision when
// no ID was offered): on an inbound call the
// client compares its bypass ID with the gateway's, and says so by answering
// with the same a=x-bypassid. needSRTP: the gateway insists on SRTP;
// gatewayKey: its offer has a usable a=crypto. A client that answers our
// optional SRTP with a key of its own (an SfB client's default,
// EncryptionLevel RequireEncryption) cannot be bypassed to a gateway that
// offered none: the gateway would get plain RTP from a client sending
// SRTP under a key it never saw.
func decideInbound(offeredID string, none decision, answer sdp.Media, needSRTP, gatewayKey bool) decision {
	switch {
	case offeredID == "":
		return none
	case answer.BypassID == "":
		return decision{false, reasonNoID, "the client answered without a=x-bypassid"}
	case !answer.HasBypassID(offeredID):
		return decision{false, reasonIDMismatch, "the client's a=x-bypassid does not match"}
	case len(answer.G711()) == 0:
		return decision{false, reasonNoG711, "the client answered no G.711"}
	case needSRTP && len(answer.SRTP()) == 0:
		return decision{false, reasonSRTPMismatch, "the gateway requires SRTP; the client answered without a=crypto"}
	case !gatewayKey && len(answer.SRTP()) > 0:
		return decision{false, reasonSRTPMismatch, "the client answered with SRTP (a=crypto); the gateway offered none"}
	}
	return decision{true, reasonIDMatched, "the client answered with the matching a=x-bypassid"}
}

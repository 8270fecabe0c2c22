package mediation

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/mediation-emulator/mediation/sip"
)

// A 420 Bad Extension or 421 Extension Required from the callee is about
// the extensions of OUR INVITE on that leg (a trunk's prack: required puts
// Require: 100rel in it), not the caller's: relayed as is it would tell
// the caller its own INVITE was wrong, and without the Unsupported or
// Require header RFC 3261 §21.4.15/§21.4.16 make mandatory (the names are
// about our INVITE, not the caller's, so they cannot go with it). The
// caller gets 500 with a Warning saying what happened; the operator a warn
// line pointing at the setting. An outbound call that has another trunk
// fails over to it first, as on a 5xx: the mismatch is the trunk's.

// Bounds of the peer's option tags quoted in our Warning and log.
const (
	maxQuotedTags   = 5
	maxQuotedTagLen = 32
)

// isExtensionMismatch reports whether code is a callee's refusal of our
// INVITE's extensions.
func isExtensionMismatch(code int) bool { return code == 420 || code == 421 }

// onExtensionMismatch handles the callee's 420 or 421 to our INVITE.
func (c *call) onExtensionMismatch(res *gosip.Response) {
	text, tags, hint := c.extensionMismatch(res)
	ev := c.log.Warn().Int("code", res.StatusCode).Strs("option_tags", tags).Str("why", text)
	if hint != "" {
		ev = ev.Str("hint", hint)
	}
	ev.Msg("far side refused our INVITE's extensions")
	if c.failover(strconv.Itoa(res.StatusCode)) {
		return
	}
	reason := "callee_bad_extension"
	if res.StatusCode == 421 {
		reason = "callee_extension_required"
	}
	c.failSetup(setupError{500, "Server Internal Error", reason}, warning(c.caller.side, text))
}

// extensionMismatch explains the callee's 420 (from its Unsupported) or
// 421 (from its Require): the sentence for the caller's Warning, the
// option tags it named, and a hint for the log naming the setting.
func (c *call) extensionMismatch(res *gosip.Response) (text string, tags []string, hint string) {
	peer, setting := "the client", "edge.prack"
	if c.dir == outbound {
		peer, setting = "the gateway", fmt.Sprintf("gateways[%s].prack", c.trunk.Name)
	}
	if res.StatusCode == 421 {
		tags = quotedTags(res, "Require")
		if len(tags) == 0 {
			return peer + " requires an extension it did not name (421 without Require)", tags, ""
		}
		return fmt.Sprintf("%s requires %s, which the mediation server does not support", peer, strings.Join(tags, ", ")), tags, ""
	}
	tags = quotedTags(res, "Unsupported")
	required := false
	if inv := c.callee.inv; inv != nil && inv.req != nil {
		for _, t := range tags {
			required = required || sip.HasOptionTag(inv.req, "Require", t)
		}
	}
	if len(tags) > 0 && !required {
		// A 420 answers a Require (RFC 3261 §8.2.2.3): naming tags our
		// INVITE only listed as Supported, it is the callee's mistake,
		// not a requirement of ours.
		return fmt.Sprintf("%s answered 420 naming %s, which our INVITE did not require", peer, strings.Join(tags, ", ")), tags, ""
	}
	if !slices.Contains(tags, sip.Ext100rel) {
		if len(tags) == 0 {
			return peer + " refused the extensions our INVITE requires (420 without Unsupported)", tags, ""
		}
		return fmt.Sprintf("%s does not support %s, which our INVITE requires", peer, strings.Join(tags, ", ")), tags, ""
	}
	hint = fmt.Sprintf("%s does not do 100rel: set %s to supported (or off)", peer, setting)
	if c.callee.policy.PrackMode() == PrackRequired {
		side := "this trunk's"
		if c.dir == inbound {
			side = "the edge's"
		}
		return fmt.Sprintf("%s does not support 100rel, which %s prack: required demands", peer, side), tags, hint
	}
	return peer + " does not support 100rel", tags, hint
}

// quotedTags are the option tags of res's headers called name, bounded
// and fit for a header of ours: the peer's text goes into our Warning.
func quotedTags(res *gosip.Response, name string) []string {
	var out []string
	for _, t := range sip.OptionTags(res, name) {
		if len(out) == maxQuotedTags {
			break
		}
		if len(t) <= maxQuotedTagLen && sip.CheckHeaderValue(t) == nil {
			out = append(out, t)
		}
	}
	return out
}

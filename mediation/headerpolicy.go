package mediation

import (
	"fmt"
	"strings"

	gosip "github.com/emiago/sipgo/sip"
)

// Header policy of a gateway trunk, as CCE's trunk configuration
// (Set-CsTrunkConfiguration -ForwardPAI, -ForwardCallHistory,
// -RemovePlusFromUri, and New-CsSipResponseCodeTranslationRule). All off
// by default: the B2BUA then copies no identity or history headers from
// one leg to the other.

// HeaderPolicy is what a trunk's calls carry across the B2BUA.
type HeaderPolicy struct {
	// ForwardPAI copies P-Asserted-Identity and Privacy (RFC 3325) from the
	// caller's INVITE to the callee's, in both directions of the trunk's
	// calls.
	ForwardPAI bool `yaml:"forward_pai"`
	// ForwardCallHistory copies History-Info (RFC 7044), Diversion (RFC
	// 5806: what CUBE and Ribbon SBCs send for a forwarded call) and
	// Referred-By (RFC 3892) likewise.
	ForwardCallHistory bool `yaml:"forward_call_history"`
	// RemovePlusFromURI strips the leading + of the numbers in the
	// Request-URI, To and From of the INVITEs sent to the trunk.
	RemovePlusFromURI bool `yaml:"remove_plus_from_uri"`
	// ResponseCodeTranslation rewrites the final response codes the trunk
	// answers outbound calls with before the caller gets them.
	ResponseCodeTranslation []CodeTranslation `yaml:"response_code_translation"`
	// EnableReferSupport relays REFER (and its NOTIFYs) across the
	// trunk's calls (refer.go); false makes the server perform a client's
	// transfer itself (transfer.go). nil means true, as in CCE.
	EnableReferSupport *bool `yaml:"enable_refer_support"`
}

// CodeTranslation is one response-code translation rule.
type CodeTranslation struct {
	Received   int `yaml:"received"`
	Translated int `yaml:"translated"`
}

func (h HeaderPolicy) check(field string) *ConfigError {
	seen := map[int]bool{}
	for i, r := range h.ResponseCodeTranslation {
		f := fmt.Sprintf("%s.response_code_translation[%d]", field, i)
		switch {
		case r.Received < 400 || r.Received > 699:
			return invalid(f+".received", fmt.Sprint(r.Received), "must be a final error code, 400..699")
		case r.Translated < 400 || r.Translated > 699:
			return invalid(f+".translated", fmt.Sprint(r.Translated), "must be a final error code, 400..699")
		case seen[r.Received]:
			return invalid(f+".received", fmt.Sprint(r.Received), "has a rule already")
		}
		seen[r.Received] = true
	}
	return nil
}

// headerPolicy is the policy of the call's trunk.
func (c *call) headerPolicy() HeaderPolicy { return c.deps.trunks[c.trunk.Name].headers }

// forwardedHeaders are the headers of the caller's INVITE that the policy
// carries to the callee. A value with control characters is left behind.
func (c *call) forwardedHeaders(req *gosip.Request) []gosip.Header {
	p := c.headerPolicy()
	var names []string
	if p.ForwardPAI {
		names = append(names, "P-Asserted-Identity", "Privacy")
	}
	if p.ForwardCallHistory {
		names = append(names, "History-Info", "Diversion", "Referred-By")
	}
	out, refused := copyNamed(req, names, 0, 0)
	if refused != "" {
		c.log.Warn().Str("header", refused).Msg("header not forwarded: control character in its value")
	}
	return out
}

// calleeNumber is a number as the callee's side is to see it.
func (c *call) calleeNumber(user string) string {
	if c.dir == outbound && c.headerPolicy().RemovePlusFromURI {
		return strings.TrimPrefix(user, "+")
	}
	return user
}

// translation is the code the trunk's response-code translation turns
// code, a final response of an outbound call, into; false if no rule
// names it.
func (c *call) translation(code int) (int, bool) {
	if c.dir != outbound {
		return 0, false
	}
	for _, r := range c.headerPolicy().ResponseCodeTranslation {
		if r.Received == code {
			c.log.Info().Int("received", code).Int("translated", r.Translated).Msg("response code translated")
			return r.Translated, true
		}
	}
	return 0, false
}

package sip

import (
	"fmt"

	gosip "github.com/emiago/sipgo/sip"
)

// CheckHeaderValue refuses a value that would break the header it is put
// in: CR or LF would end the header and start another one of the sender's
// choosing (header injection, sipgo's GHSA-chcx-pf5f-wxc7), other control
// characters (NUL, ESC, DEL, ...) are not allowed by RFC 3261's grammar.
// Tab is allowed (it is linear white space). Every value we copy from
// configuration or from a peer's request into a header of ours goes
// through it.
func CheckHeaderValue(v string) error {
	for i := 0; i < len(v); i++ {
		if b := v[i]; b < 0x20 && b != '\t' || b == 0x7f {
			return fmt.Errorf("control character %q at byte %d", b, i)
		}
	}
	return nil
}

// checkCopiedValues: the parts of a request the B2BUA copies into the
// request it sends on (Request-URI user, From and To users and display
// names) must be fit for a header.
func checkCopiedValues(req *gosip.Request) error {
	for _, v := range []string{UserOf(req.Recipient), UserOf(req.From().Address), req.From().DisplayName,
		UserOf(req.To().Address), req.To().DisplayName} {
		if CheckHeaderValue(v) != nil {
			return malformed("Control Character In Header")
		}
	}
	return nil
}

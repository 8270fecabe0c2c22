package sip

import (
	"strings"

	gosip "github.com/emiago/sipgo/sip"
)

// droppedURIParams name a hop (transport, maddr, ttl, lr: RFC 3261 §19.1.1)
// or are not allowed in a Request-URI (method); user is carried by
// Invite.RequestPhone.
var droppedURIParams = []string{"transport", "maddr", "ttl", "lr", "method", "user"}

// KeptURIParams are the parameters of a SIP URI that name what is called
// rather than how to reach the host: SfB's gruu and opaque=app:conf:...
// (a conference focus) or opaque=app:cpsp (the call park orbit). A B2BUA
// that re-targets the URI at its own next hop keeps them (Invite.
// RequestParams). A tel: URI has none; a parameter whose name or value
// could break the request line (control characters, white space, <>",)
// is left out.
func KeptURIParams(u gosip.Uri) gosip.HeaderParams {
	if strings.EqualFold(u.Scheme, "tel") {
		return nil
	}
	var out gosip.HeaderParams
	for _, kv := range u.UriParams {
		if i := strings.IndexByte(kv.K, '?'); i >= 0 {
			// sipgo reads "sip:n@h;ob?X=1" as a parameter "ob?X=1" beside
			// the header X=1: the parameter is "ob".
			kv.K, kv.V = kv.K[:i], ""
		}
		if kv.K == "" || !safeURIParam(kv.K) || !safeURIParam(kv.V) || dropped(kv.K) {
			continue
		}
		out = append(out, kv)
	}
	return out
}

func dropped(name string) bool {
	for _, d := range droppedURIParams {
		if strings.EqualFold(name, d) {
			return true
		}
	}
	return false
}

// safeURIParam: no byte that would end the URI or the line it is in.
func safeURIParam(v string) bool {
	return CheckHeaderValue(v) == nil && !strings.ContainsAny(v, " \t<>\",;?")
}

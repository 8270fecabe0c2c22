package hybridconfig

import (
	"strconv"
	"strings"
)

// Version is a four-part Office build number, e.g. 16.0.7870.2020. It is an
// array rather than a struct so other packages can write the unkeyed literal
// Version{16, 0, 7870, 2020} without a vet complaint.
type Version [4]int

// MinBypassVersion is the first Skype for Business 2016 client build that
// supports media bypass with Cloud Connector ("16.0.7870.2020 or greater").
var MinBypassVersion = Version{16, 0, 7870, 2020}

// Compare returns -1, 0 or +1 as v is older than, equal to or newer than o.
func (v Version) Compare(o Version) int {
	for i := range v {
		switch {
		case v[i] < o[i]:
			return -1
		case v[i] > o[i]:
			return 1
		}
	}
	return 0
}

// Less reports whether v is an older build than o.
func (v Version) Less(o Version) bool { return v.Compare(o) < 0 }

func (v Version) String() string {
	parts := make([]string, len(v))
	for i, n := range v {
		parts[i] = strconv.Itoa(n)
	}
	return strings.Join(parts, ".")
}

// clientProducts are the User-Agent products that carry the client build, best
// first: OC/ is the Office (Lync/SfB) client build that the 16.0.7870.2020
// requirement refers to; UCCAPI/ is the protocol stack's build, usually equal.
var clientProducts = []string{"OC/", "UCCAPI/", "Skype for Business/"}

// ClientVersion finds the Skype for Business client build in a User-Agent
// such as "UCCAPI/16.0.7870.2020 OC/16.0.7870.2020 (Skype for Business)". It
// prefers the OC/ build, then UCCAPI/, then "Skype for Business/16.0.x.y". A
// product is only recognised at the start of the header or after a space, "("
// or ";", and its version must have exactly four numeric parts.
func ClientVersion(userAgent string) (Version, bool) {
	lower := strings.ToLower(userAgent)
	for _, product := range clientProducts {
		if v, ok := productVersion(lower, strings.ToLower(product)); ok {
			return v, true
		}
	}
	return Version{}, false
}

// productVersion returns the version after the first occurrence of product
// that stands at a token boundary and is followed by a valid version.
func productVersion(ua, product string) (Version, bool) {
	for from := 0; from < len(ua); {
		i := strings.Index(ua[from:], product)
		if i < 0 {
			return Version{}, false
		}
		i += from
		from = i + len(product)
		if i > 0 && !strings.ContainsRune(" (;", rune(ua[i-1])) {
			continue
		}
		if v, ok := parseVersion(versionToken(ua[from:])); ok {
			return v, true
		}
	}
	return Version{}, false
}

// versionToken is the run of digits and dots at the start of s.
func versionToken(s string) string {
	end := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if end < 0 {
		return s
	}
	return s[:end]
}

// maxPartDigits keeps every part well inside int on any platform.
const maxPartDigits = 9

func parseVersion(s string) (Version, bool) {
	parts := strings.Split(s, ".")
	if len(parts) != len(Version{}) {
		return Version{}, false
	}
	var v Version
	for i, p := range parts {
		if p == "" || len(p) > maxPartDigits {
			return Version{}, false
		}
		n, err := strconv.Atoi(p)
		if err != nil {
			return Version{}, false
		}
		v[i] = n
	}
	return v, true
}

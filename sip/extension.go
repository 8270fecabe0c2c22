package sip

import (
	"strings"

	gosip "github.com/emiago/sipgo/sip"
)

// Option tags of the extensions the mediation server implements.
const (
	Ext100rel = "100rel" // RFC 3262: reliable provisional responses (PRACK)
	ExtTimer  = "timer"  // RFC 4028: session timers
)

// OptionTags returns the option tags listed in every header of msg named
// name ("Require", "Supported", "Proxy-Require", "Unsupported"; the compact
// form "k" of Supported is found too), comma-split, trimmed, lower-cased, in
// order, duplicates removed. The option-tag lists are comma-separated
// (RFC 3261 §20.32, §20.37) and a list may span several header lines
// (RFC 3261 §7.3.1); sipgo keeps these headers unparsed, so the value is
// split here.
func OptionTags(msg gosip.Message, name string) []string {
	var tags []string
	for _, h := range HeadersNamed(msg, name) {
		for _, t := range strings.Split(h.Value(), ",") {
			t = strings.ToLower(strings.TrimSpace(t))
			if t != "" && !containsFold(tags, t) {
				tags = append(tags, t)
			}
		}
	}
	return tags
}

// HasOptionTag reports whether tag (case-insensitive) is among
// OptionTags(msg, name).
func HasOptionTag(msg gosip.Message, name, tag string) bool {
	return containsFold(OptionTags(msg, name), strings.TrimSpace(tag))
}

// Unsupported lists the option tags of req's Require (and Proxy-Require)
// headers that are not in supported (case-insensitive), in order, for a
// 420 Bad Extension's Unsupported header (RFC 3261 §8.2.2.3: a UAS MUST NOT
// process a request whose Require names an extension it does not
// understand). Proxy-Require is checked too because the B2BUA is the last
// SIP element that could honour it. nil when all are supported.
func Unsupported(req *gosip.Request, supported ...string) []string {
	if req == nil {
		return nil
	}
	var bad []string
	for _, name := range []string{"Require", "Proxy-Require"} {
		for _, t := range OptionTags(req, name) {
			if !containsFold(supported, t) && !containsFold(bad, t) {
				bad = append(bad, t)
			}
		}
	}
	return bad
}

// OptionHeader builds a header name: "tag1, tag2" (e.g. Supported: 100rel,
// timer), the tags as given. An empty list gives a header with an empty
// value: "Supported:" is valid (RFC 3261 §20.37 allows an empty list) and
// tells the peer we support no extension.
func OptionHeader(name string, tags ...string) gosip.Header {
	return gosip.NewHeader(name, strings.Join(tags, ", "))
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(strings.TrimSpace(v), s) {
			return true
		}
	}
	return false
}

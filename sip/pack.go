package sip

import (
	"strings"

	gosip "github.com/emiago/sipgo/sip"
)

// Pack gives what a long-lived dialog keeps (Call-ID, tags, URIs, the
// peer's address, its Allow list) storage of its own, shared
// by everything packed with it. Taken from parsed messages, these strings
// are pieces of each header's value and pin it, each header value and
// list is an allocation of its own, and small objects that outlive the
// messages they came with keep whole heap spans of the messages' garbage in
// use. Packed, they are three allocations: one buffer for every string
// (equal strings share one copy), one array for every URI parameter, one
// for every list element.
//
// A Pack works in two rounds over the same fields: the first (Keep, KeepURI
// and KeepList calls before Copy) counts what to copy, the second (the same
// calls after Copy) copies and repoints each field. Strings handed out stay
// valid if a round counted short (strings.Builder never moves bytes it has
// written): a miscount costs an allocation, never a wrong value.
type Pack struct {
	copying bool
	size    int // bytes of distinct strings
	nkv     int // URI parameters
	nlist   int // list elements
	// seen are the distinct strings met so far: the fields' own in the
	// first round, their copies in the second.
	seen []string
	buf  strings.Builder
	kvs  []gosip.HeaderKV
	list []string
}

// Copy ends the counting round: the calls that follow copy.
func (p *Pack) Copy() {
	p.copying, p.seen = true, p.seen[:0]
	p.buf.Grow(p.size)
	p.kvs = make([]gosip.HeaderKV, 0, p.nkv)
	p.list = make([]string, 0, p.nlist)
}

// Keep repoints each string to the pack's copy of it (in the second
// round).
func (p *Pack) Keep(ss ...*string) {
	for _, s := range ss {
		p.keep(s)
	}
}

func (p *Pack) keep(s *string) {
	if *s == "" {
		return
	}
	if k, ok := p.find(*s); ok {
		if p.copying {
			*s = k
		}
		return
	}
	if !p.copying {
		p.size += len(*s)
		p.seen = append(p.seen, *s)
		return
	}
	p.buf.WriteString(*s)
	all := p.buf.String()
	*s = all[len(all)-len(*s):]
	p.seen = append(p.seen, *s)
}

// Find is the pack's copy of s, s itself when it has none: for a field
// that must stay equal to one packed (a map key), set outside the rounds.
func (p *Pack) Find(s string) string {
	if k, ok := p.find(s); ok && p.copying {
		return k
	}
	return s
}

func (p *Pack) find(s string) (string, bool) {
	for _, k := range p.seen {
		if k == s {
			return k, true
		}
	}
	return "", false
}

// KeepList packs a list of strings: its elements and the list itself.
func (p *Pack) KeepList(l *[]string) {
	keepSlice(p, l, &p.nlist, &p.list, p.keep)
}

// keepSlice moves *l into arena in the second round (the first counts its
// elements in *n) and passes each element to keep. A copy, not *l changed
// in place: *l may be shared with a message, which is not ours to change.
func keepSlice[T any](p *Pack, l *[]T, n *int, arena *[]T, keep func(*T)) {
	if len(*l) == 0 {
		return
	}
	if !p.copying {
		*n += len(*l)
	} else {
		start := len(*arena)
		*arena = append(*arena, *l...)
		*l = (*arena)[start:len(*arena):len(*arena)]
	}
	for i := range *l {
		keep(&(*l)[i])
	}
}

// KeepURI packs u: its strings and its parameters' and headers' lists. The
// scheme-specific part of a non-SIP URI (tel:) is not reachable from here
// and stays where it is.
func (p *Pack) KeepURI(u *gosip.Uri) {
	p.Keep(&u.Scheme, &u.User, &u.Password, &u.Host)
	p.keepParams(&u.UriParams)
	p.keepParams(&u.Headers)
}

func (p *Pack) keepParams(h *gosip.HeaderParams) {
	keepSlice(p, (*[]gosip.HeaderKV)(h), &p.nkv, &p.kvs, func(kv *gosip.HeaderKV) {
		p.Keep(&kv.K, &kv.V)
	})
}

// KeepStrings passes what d keeps for its whole life to p (see Pack). The
// dialog must not be in use elsewhere meanwhile.
func (d *Dialog) KeepStrings(p *Pack) {
	p.Keep(&d.CallID, &d.LocalTag, &d.RemoteTag, &d.LocalName, &d.Transport, &d.Flow)
	p.KeepURI(&d.Local)
	p.KeepURI(&d.Remote)
	p.KeepURI(&d.RemoteTarget)
	for i := range d.RouteSet {
		p.KeepURI(&d.RouteSet[i])
	}
	p.KeepList(&d.Allow)
}

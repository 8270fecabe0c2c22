package gateway

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"regexp"
	"regexp/syntax"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Routing policy: which trunks an outbound call may go to, best first.

// Pattern is one called-number pattern of a trunk.
type Pattern struct {
	// text is the pattern as configured.
	text   string
	prefix string
	re     *regexp.Regexp
	// literal is the length of the literal prefix every match of re
	// starts with: its specificity.
	literal int
}

// anyNumber is the specificity of a trunk's match that says nothing about
// the number: "*", or no numbers at all. It ranks below every pattern that
// matched, even a regular expression whose literal prefix is empty
// (README, Outbound routing: "least specifically").
const anyNumber = -1

var prefixPattern = regexp.MustCompile(`^\+?[0-9]*$`)

// ParsePattern reads a number pattern: an E.164 prefix ("+1", "+4420",
// "1800", compared with the called number as it is written), "*" for every
// number, or, after "re:", a Go regular expression that must match the
// whole number ("re:\+44(20|11)\d{7}").
func ParsePattern(s string) (Pattern, error) {
	if expr, ok := strings.CutPrefix(s, "re:"); ok {
		re, err := regexp.Compile(`^(?:` + expr + `)$`)
		if err != nil {
			return Pattern{}, fmt.Errorf("number pattern %q: %w", s, err)
		}
		// Not re.LiteralPrefix(): Go computes that from the compiled
		// program, and for an anchored one that is not one-pass
		// (`\+4420(1|12)\d+`, `\+4420\d*0`) it is "", so the
		// specificity would hang on an engine detail.
		tree, err := syntax.Parse(expr, syntax.Perl)
		if err != nil {
			return Pattern{}, fmt.Errorf("number pattern %q: %w", s, err)
		}
		lit, _ := literalPrefix(tree.Simplify())
		return Pattern{text: s, re: re, literal: len(lit)}, nil
	}
	if s == "*" {
		return Pattern{text: s}, nil
	}
	if s == "" || !prefixPattern.MatchString(s) {
		return Pattern{}, fmt.Errorf("number pattern %q: must be an E.164 prefix (+ and digits), * or re:REGEXP", s)
	}
	return Pattern{text: s, prefix: s}, nil
}

// literalPrefix is the literal text every match of re starts with, and
// whether every match is that text alone (so what follows re in a
// concatenation extends the prefix). Zero-width assertions (^, \b) add
// nothing and end nothing; an alternation's prefix is what all its
// branches' prefixes share; anything that may match other text first (a
// class, an optional or repeated part) ends the prefix.
func literalPrefix(re *syntax.Regexp) (string, bool) {
	switch re.Op {
	case syntax.OpLiteral:
		if re.Flags&syntax.FoldCase == 0 {
			return string(re.Rune), true
		}
		// (?i): a rune with another case is no literal any more.
		for k, r := range re.Rune {
			if unicode.SimpleFold(r) != r {
				return string(re.Rune[:k]), false
			}
		}
		return string(re.Rune), true
	case syntax.OpEmptyMatch, syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText, syntax.OpEndText,
		syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return "", true
	case syntax.OpCapture:
		return literalPrefix(re.Sub[0])
	case syntax.OpPlus:
		lit, _ := literalPrefix(re.Sub[0])
		return lit, false
	case syntax.OpRepeat:
		if re.Min < 1 {
			return "", false
		}
		lit, complete := literalPrefix(re.Sub[0])
		return lit, complete && re.Min == 1 && re.Max == 1
	case syntax.OpConcat:
		var b strings.Builder
		for _, sub := range re.Sub {
			lit, complete := literalPrefix(sub)
			b.WriteString(lit)
			if !complete {
				return b.String(), false
			}
		}
		return b.String(), true
	case syntax.OpAlternate:
		common, complete := literalPrefix(re.Sub[0])
		for _, sub := range re.Sub[1:] {
			lit, c := literalPrefix(sub)
			n := 0
			for n < len(common) && n < len(lit) && common[n] == lit[n] {
				n++
			}
			// Whole runes only (a multi-byte rune's bytes may be
			// shared in part).
			for n > 0 && n < len(common) && !utf8.RuneStart(common[n]) {
				n--
			}
			complete = complete && c && n == len(common) && n == len(lit)
			common = common[:n]
		}
		return common, complete
	}
	return "", false
}

// Match reports whether number matches, and how specific the match is: the
// length of the prefix, or of the literal prefix every match of the
// regular expression starts with; anyNumber (-1) for "*". Higher is more
// specific.
func (p Pattern) Match(number string) (specificity int, ok bool) {
	if p.re != nil {
		if !p.re.MatchString(number) {
			return 0, false
		}
		return p.literal, true
	}
	if p.text == "*" {
		return anyNumber, true
	}
	if !strings.HasPrefix(number, p.prefix) {
		return 0, false
	}
	return len(p.prefix), true
}

// String is the pattern as configured.
func (p Pattern) String() string { return p.text }

// candidate is a trunk that serves a number, with how well.
type candidate struct {
	i, specificity int
}

// Route lists the trunks an outbound call to number may try, in the order
// to try them: the most specific matching pattern first, then the lowest
// priority; trunks equal on both take turns at the head of their group, so
// that calls spread evenly over them (as CCE spreads a site's calls over
// its gateways). Trunks that are down or resting after a 503 with
// Retry-After are left out, unless every candidate is: then all are tried
// rather than none (the probes may be wrong; the call may still go
// through). ErrNoRoute when no trunk serves the number.
func (t *Table) Route(number string) ([]Trunk, error) {
	if t == nil || len(t.trunks) == 0 {
		return nil, ErrNoTrunk
	}
	var all []candidate
	for i := range t.trunks {
		if spec, ok := t.match(i, number); ok {
			all = append(all, candidate{i, spec})
		}
	}
	if len(all) == 0 {
		return nil, fmt.Errorf("%w: %q", ErrNoRoute, number)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	// A trunk whose host name has not resolved has nowhere to send to.
	all = slices.DeleteFunc(all, func(c candidate) bool { return !t.trunks[c.i].resolved() })
	if len(all) == 0 {
		return nil, fmt.Errorf("%w: %q", ErrUnresolved, number)
	}
	now := time.Now()
	cands := make([]candidate, 0, len(all))
	for _, c := range all {
		if t.health[c.i].available(now) {
			cands = append(cands, c)
		}
	}
	if len(cands) == 0 {
		cands = all
	}
	sort.SliceStable(cands, func(a, b int) bool {
		ca, cb := cands[a], cands[b]
		if ca.specificity != cb.specificity {
			return ca.specificity > cb.specificity
		}
		return t.trunks[ca.i].Priority < t.trunks[cb.i].Priority
	})
	out := make([]Trunk, 0, len(cands))
	for start := 0; start < len(cands); {
		end := start + 1
		for end < len(cands) && cands[end].specificity == cands[start].specificity &&
			t.trunks[cands[end].i].Priority == t.trunks[cands[start].i].Priority {
			end++
		}
		group := cands[start:end]
		turn := 0
		if len(group) > 1 {
			key := t.groupKey(group)
			turn = int(t.next[key] % uint64(len(group)))
			t.next[key]++
		}
		for k := range group {
			out = append(out, t.pick(group[(turn+k)%len(group)].i, now))
		}
		start = end
	}
	return out, nil
}

// match is trunk i's best match of number; a trunk with no patterns serves
// every number, least specifically (as "*").
func (t *Table) match(i int, number string) (int, bool) {
	if len(t.patterns[i]) == 0 {
		return anyNumber, true
	}
	best, found := 0, false
	for _, p := range t.patterns[i] {
		if spec, ok := p.Match(number); ok && (!found || spec > best) {
			best, found = spec, true
		}
	}
	return best, found
}

// pick is trunk i with the addresses this call is to use, in RFC 3263's
// order (RFC 2782's selection): Addr is drawn by weight among the targets
// of the best SRV priority (evenly when they have no weights: several A
// records), and Alternates are the rest, drawn the same way, then the next
// priorities. Addresses whose probes say they are down come after all
// the others (in the same order among themselves): tried only when
// nothing else is left. Addresses resting after a 503 with Retry-After
// are left out, unless every address rests: then all are tried, as
// routing tries resting trunks when nothing else serves the number. The
// call tries Alternates in turn when Addr fails at transport level, gives
// no response, or answers 503 (RFC 3263 §4.3). t.mu is held.
func (t *Table) pick(i int, now time.Time) Trunk {
	tr := t.trunks[i]
	tr.Alternates = nil
	if len(tr.Targets) < 2 {
		return tr
	}
	order := make([]netip.AddrPort, 0, len(tr.Targets))
	for start := 0; start < len(tr.Targets); {
		end := start + 1
		for end < len(tr.Targets) && tr.Targets[end].Priority == tr.Targets[start].Priority {
			end++
		}
		order = append(order, drawByWeight(tr.Targets[start:end])...)
		start = end
	}
	h := t.health[i]
	// Resting addresses (a 503's Retry-After) are left out while an
	// address that is up and awake remains; otherwise (a trunk tried as
	// the last resort) every address is, those up first, a resting one
	// that is up before one that is down.
	upAwake := func(a netip.AddrPort) bool { return h.addrUp(a) && !h.addrResting(a, now) }
	if slices.ContainsFunc(order, upAwake) {
		order = slices.DeleteFunc(order, func(a netip.AddrPort) bool { return h.addrResting(a, now) })
	}
	slices.SortStableFunc(order, func(a, b netip.AddrPort) int {
		return cmp.Compare(downRank(h.addrUp(a)), downRank(h.addrUp(b)))
	})
	tr.Addr, tr.Alternates = order[0], order[1:]
	return tr
}

// downRank sorts addresses that are up before those that are down.
func downRank(up bool) int {
	if up {
		return 0
	}
	return 1
}

// drawByWeight orders targets of one SRV priority as RFC 2782 selects
// them: each next one drawn with a chance in proportion to its weight;
// targets of weight 0 come after the weighted ones, in random order.
func drawByWeight(group []Target) []netip.AddrPort {
	left := slices.Clone(group)
	out := make([]netip.AddrPort, 0, len(left))
	for len(left) > 0 {
		total := 0
		for _, tg := range left {
			total += int(tg.Weight)
		}
		k := 0
		if total == 0 {
			k = rand.IntN(len(left))
		} else {
			n := rand.IntN(total)
			for k = range left {
				if n < int(left[k].Weight) {
					break
				}
				n -= int(left[k].Weight)
			}
		}
		out = append(out, left[k].Addr)
		left = slices.Delete(left, k, k+1)
	}
	return out
}

// groupKey names a set of equal candidates, whose turns are counted
// together.
func (t *Table) groupKey(group []candidate) string {
	var b strings.Builder
	for _, c := range group {
		b.WriteString(t.trunks[c.i].Name)
		b.WriteByte(0)
	}
	return b.String()
}

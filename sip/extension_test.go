package sip

import (
	"slices"
	"strings"
	"testing"

	gosip "github.com/emiago/sipgo/sip"
)

// parseRaw parses a SIP message given as its header lines (CRLF added),
// with an empty body.
func parseRaw(t *testing.T, lines ...string) gosip.Message {
	t.Helper()
	raw := strings.Join(lines, "\r\n") + "\r\nContent-Length: 0\r\n\r\n"
	msg, err := gosip.ParseMessage([]byte(raw))
	if err != nil {
		t.Fatalf("parse %q: %v", raw, err)
	}
	return msg
}

func parseRequest(t *testing.T, lines ...string) *gosip.Request {
	t.Helper()
	req, ok := parseRaw(t, lines...).(*gosip.Request)
	if !ok {
		t.Fatalf("not a request: %q", lines[0])
	}
	return req
}

func optionsWith(t *testing.T, extra ...string) *gosip.Request {
	t.Helper()
	lines := []string{
		"OPTIONS sip:b@example.com SIP/2.0",
		"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds",
		"From: <sip:a@example.com>;tag=1928301774",
		"To: <sip:b@example.com>",
		"Call-ID: a84b4c76e66710",
		"CSeq: 1 OPTIONS",
	}
	return parseRequest(t, append(lines, extra...)...)
}

func TestOptionTags(t *testing.T) {
	tests := []struct {
		name    string
		headers []string
		header  string
		want    []string
	}{
		{"none", nil, "Supported", nil},
		{"one header", []string{"Supported: 100rel, timer"}, "Supported", []string{"100rel", "timer"}},
		{"compact form", []string{"k: 100rel"}, "Supported", []string{"100rel"}},
		{"compact and long, in order", []string{"Supported: timer", "k: 100rel", "Supported: replaces"}, "Supported", []string{"timer", "100rel", "replaces"}},
		{"trimmed, lower-cased, deduplicated", []string{"Supported:  Timer ,100REL,, timer", "Supported: 100rel"}, "Supported", []string{"timer", "100rel"}},
		{"name is case-insensitive", []string{"REQUIRE: 100rel"}, "Require", []string{"100rel"}},
		{"empty header", []string{"Supported:"}, "Supported", nil},
		{"other headers ignored", []string{"Require: 100rel", "Supported: timer"}, "Require", []string{"100rel"}},
		{"Proxy-Require", []string{"Proxy-Require: foo"}, "Proxy-Require", []string{"foo"}},
		{"Unsupported", []string{"Unsupported: foo, bar"}, "Unsupported", []string{"foo", "bar"}},
		{"k is only Supported", []string{"k: 100rel"}, "Require", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := optionsWith(t, tt.headers...)
			if got := OptionTags(req, tt.header); !slices.Equal(got, tt.want) {
				t.Errorf("OptionTags(%s) = %q, want %q", tt.header, got, tt.want)
			}
		})
	}
}

func TestOptionTagsBuiltMessage(t *testing.T) {
	res := gosip.NewResponse(183, "Session Progress")
	res.AppendHeader(gosip.NewHeader("Require", "100rel"))
	res.AppendHeader(gosip.NewHeader("k", "timer"))
	if got := OptionTags(res, "Require"); !slices.Equal(got, []string{"100rel"}) {
		t.Errorf("Require = %q", got)
	}
	if got := OptionTags(res, "supported"); !slices.Equal(got, []string{"timer"}) {
		t.Errorf("Supported = %q", got)
	}
	if got := OptionTags(nil, "Supported"); got != nil {
		t.Errorf("nil message: %q", got)
	}
}

func TestHasOptionTag(t *testing.T) {
	req := optionsWith(t, "Supported: 100rel, Timer", "Require: foo")
	tests := []struct {
		name, header, tag string
		want              bool
	}{
		{"present", "Supported", Ext100rel, true},
		{"case-insensitive tag", "Supported", "TIMER", true},
		{"absent tag", "Supported", "replaces", false},
		{"other header", "Require", Ext100rel, false},
		{"absent header", "Proxy-Require", "foo", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := HasOptionTag(req, tt.header, tt.tag); got != tt.want {
				t.Errorf("HasOptionTag(%s, %s) = %v, want %v", tt.header, tt.tag, got, tt.want)
			}
		})
	}
}

func TestUnsupported(t *testing.T) {
	tests := []struct {
		name      string
		headers   []string
		supported []string
		want      []string
	}{
		{"no Require", []string{"Supported: foo"}, []string{Ext100rel}, nil},
		{"all supported", []string{"Require: 100rel, Timer"}, []string{Ext100rel, ExtTimer}, nil},
		{"supported list case-insensitive", []string{"Require: timer"}, []string{"TIMER"}, nil},
		{"one unknown", []string{"Require: 100rel, precondition"}, []string{Ext100rel}, []string{"precondition"}},
		{"in order, deduplicated", []string{"Require: foo, 100rel", "Require: bar, foo"}, []string{Ext100rel}, []string{"foo", "bar"}},
		{"Proxy-Require counts", []string{"Require: 100rel", "Proxy-Require: sec-agree"}, []string{Ext100rel}, []string{"sec-agree"}},
		{"nothing supported", []string{"Require: 100rel"}, nil, []string{"100rel"}},
		{"Supported is not Require", []string{"Supported: foo, bar"}, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := optionsWith(t, tt.headers...)
			if got := Unsupported(req, tt.supported...); !slices.Equal(got, tt.want) {
				t.Errorf("Unsupported = %q, want %q", got, tt.want)
			}
		})
	}
	if got := Unsupported(nil, Ext100rel); got != nil {
		t.Errorf("nil request: %q", got)
	}
}

func TestOptionHeader(t *testing.T) {
	tests := []struct {
		name, header string
		tags         []string
		want         string
	}{
		{"two tags", "Supported", []string{Ext100rel, ExtTimer}, "Supported: 100rel, timer"},
		{"one tag", "Require", []string{ExtTimer}, "Require: timer"},
		{"empty list", "Supported", nil, "Supported: "},
		{"Unsupported", "Unsupported", []string{"foo", "bar"}, "Unsupported: foo, bar"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := OptionHeader(tt.header, tt.tags...)
			if got := h.String(); got != tt.want {
				t.Errorf("header = %q, want %q", got, tt.want)
			}
			// It reads back as what was written.
			res := gosip.NewResponse(200, "OK")
			res.AppendHeader(h)
			if got := OptionTags(res, tt.header); !slices.Equal(got, tt.tags) {
				t.Errorf("read back %q, want %q", got, tt.tags)
			}
		})
	}
}

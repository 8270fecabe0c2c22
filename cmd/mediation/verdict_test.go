package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/mediation-emulator/mediation/mediation/endpoint"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
)

const testBypassID = "be38f190-a24a-4a72-b66c-b09fd0909ebc"

var ap = netip.MustParseAddrPort

// sdpBody is a minimal audio SDP at rtp, with a=x-bypassid when id is set
// and one host candidate per address in candidates.
func sdpBody(rtp netip.AddrPort, id string, candidates ...netip.AddrPort) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "v=0\r\no=- 1 1 IN IP4 %s\r\ns=session\r\nc=IN IP4 %s\r\nt=0 0\r\n", rtp.Addr(), rtp.Addr())
	fmt.Fprintf(&b, "m=audio %d RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n", rtp.Port())
	if id != "" {
		fmt.Fprintf(&b, "a=x-bypassid:%s\r\n", id)
	}
	for i, c := range candidates {
		fmt.Fprintf(&b, "a=candidate:%d 1 UDP %d %s %d typ host\r\n", i+1, 2130706431-i, c.Addr(), c.Port())
	}
	return []byte(b.String())
}

var (
	clientMedia = ap("127.0.0.1:40000")
	sbcMedia    = ap("127.0.0.1:41000")
	edgeRelay   = ap("127.0.0.1:21004")
	gwRelay     = ap("127.0.0.1:21002")
	elsewhere   = ap("127.0.0.1:45000")
	serverRange = mediaRange{ip: netip.MustParseAddr("127.0.0.1"), low: 21000, high: 21999}
)

func TestClientPath(t *testing.T) {
	tests := []struct {
		name     string
		r        endpoint.CallReport
		want     string
		wantWhy  string
		wantPath string
	}{
		{"outbound bypassed",
			endpoint.CallReport{Direction: endpoint.Outbound, MediaLocal: clientMedia, MediaFrom: sbcMedia,
				OfferSDP: sdpBody(clientMedia, testBypassID), AnswerSDP: sdpBody(sbcMedia, testBypassID, sbcMedia)},
			pathBypassed, "a=x-bypassid", "client 127.0.0.1:40000 <-> SBC 127.0.0.1:41000"},
		{"outbound bypassed, ID in another case",
			endpoint.CallReport{Direction: endpoint.Outbound, MediaLocal: clientMedia, MediaFrom: sbcMedia,
				OfferSDP: sdpBody(clientMedia, testBypassID), AnswerSDP: sdpBody(sbcMedia, strings.ToUpper(testBypassID))},
			pathBypassed, "a=x-bypassid", "SBC"},
		{"outbound bypassed, early media only",
			endpoint.CallReport{Direction: endpoint.Outbound, MediaLocal: clientMedia, MediaFrom: sbcMedia,
				OfferSDP: sdpBody(clientMedia, testBypassID), EarlySDP: sdpBody(sbcMedia, testBypassID)},
			pathBypassed, "a=x-bypassid", "SBC"},
		{"outbound anchored, no ID in the answer",
			endpoint.CallReport{Direction: endpoint.Outbound, MediaLocal: clientMedia, MediaFrom: edgeRelay,
				OfferSDP: sdpBody(clientMedia, testBypassID), AnswerSDP: sdpBody(edgeRelay, "", edgeRelay)},
			pathAnchored, "no a=x-bypassid", "client 127.0.0.1:40000 <-> mediation 127.0.0.1:21004"},
		{"outbound anchored, we offered no ID",
			endpoint.CallReport{Direction: endpoint.Outbound, MediaLocal: clientMedia, MediaFrom: edgeRelay,
				OfferSDP: sdpBody(clientMedia, ""), AnswerSDP: sdpBody(edgeRelay, testBypassID)},
			pathAnchored, "no a=x-bypassid", "mediation"},
		{"outbound, an ID that is not ours",
			endpoint.CallReport{Direction: endpoint.Outbound, MediaLocal: clientMedia, MediaFrom: edgeRelay,
				OfferSDP: sdpBody(clientMedia, testBypassID), AnswerSDP: sdpBody(edgeRelay, "2cd1a522-b9c5-4410-8aed-f3eca85eb367")},
			pathAnchored, "no a=x-bypassid", "mediation"},
		{"outbound, RTP from an address the answer did not give",
			endpoint.CallReport{Direction: endpoint.Outbound, MediaLocal: clientMedia, MediaFrom: elsewhere,
				OfferSDP: sdpBody(clientMedia, testBypassID), AnswerSDP: sdpBody(sbcMedia, testBypassID)},
			pathUnknown, "not from 127.0.0.1:41000", "127.0.0.1:45000"},
		{"outbound, no RTP",
			endpoint.CallReport{Direction: endpoint.Outbound, MediaLocal: clientMedia,
				OfferSDP: sdpBody(clientMedia, testBypassID), AnswerSDP: sdpBody(sbcMedia, testBypassID)},
			pathNone, "no RTP", "nothing received"},
		{"outbound, unreadable answer",
			endpoint.CallReport{Direction: endpoint.Outbound, MediaLocal: clientMedia, MediaFrom: sbcMedia,
				OfferSDP: sdpBody(clientMedia, testBypassID), AnswerSDP: []byte("hello")},
			pathUnknown, "answer's SDP", "127.0.0.1:41000"},
		{"inbound bypassed",
			endpoint.CallReport{Direction: endpoint.Inbound, MediaLocal: clientMedia, MediaFrom: sbcMedia, BypassAnswered: true,
				OfferSDP: sdpBody(edgeRelay, testBypassID, sbcMedia, edgeRelay)},
			pathBypassed, "SBC's candidate", "client 127.0.0.1:40000 <-> SBC 127.0.0.1:41000"},
		{"inbound anchored, we answered without an ID",
			endpoint.CallReport{Direction: endpoint.Inbound, MediaLocal: clientMedia, MediaFrom: edgeRelay,
				OfferSDP: sdpBody(edgeRelay, testBypassID, sbcMedia, edgeRelay)},
			pathAnchored, "c= address", "mediation 127.0.0.1:21004"},
		{"inbound, RTP from the SBC although we answered without an ID",
			endpoint.CallReport{Direction: endpoint.Inbound, MediaLocal: clientMedia, MediaFrom: sbcMedia,
				OfferSDP: sdpBody(edgeRelay, testBypassID, sbcMedia, edgeRelay)},
			pathUnknown, "neither", "127.0.0.1:41000"},
		{"inbound anchored, bypass disabled: no SBC candidate",
			endpoint.CallReport{Direction: endpoint.Inbound, MediaLocal: clientMedia, MediaFrom: edgeRelay,
				OfferSDP: sdpBody(edgeRelay, "", edgeRelay)},
			pathAnchored, "c= address", "mediation"},
		{"inbound, unreadable offer",
			endpoint.CallReport{Direction: endpoint.Inbound, MediaLocal: clientMedia, MediaFrom: edgeRelay, OfferSDP: []byte("v=0")},
			pathUnknown, "offer's SDP", "127.0.0.1:21004"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := clientPath(tt.r)
			if got.path != tt.want || !strings.Contains(got.why, tt.wantWhy) || !strings.Contains(got.drawn, tt.wantPath) {
				t.Errorf("clientPath = %+v, want %s with reason containing %q and path containing %q", got, tt.want, tt.wantWhy, tt.wantPath)
			}
		})
	}
}

func TestSBCPath(t *testing.T) {
	tests := []struct {
		name     string
		r        endpoint.CallReport
		want     string
		wantPath string
	}{
		{"answered, media from the client",
			endpoint.CallReport{Direction: endpoint.Inbound, MediaLocal: sbcMedia, MediaFrom: clientMedia, OfferSDP: sdpBody(clientMedia, "")},
			pathBypassed, "SBC 127.0.0.1:41000 <-> client 127.0.0.1:40000"},
		{"answered, media from the relay",
			endpoint.CallReport{Direction: endpoint.Inbound, MediaLocal: sbcMedia, MediaFrom: gwRelay, OfferSDP: sdpBody(gwRelay, "")},
			pathAnchored, "SBC 127.0.0.1:41000 <-> mediation 127.0.0.1:21002"},
		{"placed, media from the client",
			endpoint.CallReport{Direction: endpoint.Outbound, MediaLocal: sbcMedia, MediaFrom: clientMedia,
				OfferSDP: sdpBody(sbcMedia, ""), AnswerSDP: sdpBody(clientMedia, "")},
			pathBypassed, "client 127.0.0.1:40000"},
		{"placed, media from the relay",
			endpoint.CallReport{Direction: endpoint.Outbound, MediaLocal: sbcMedia, MediaFrom: gwRelay,
				OfferSDP: sdpBody(sbcMedia, ""), AnswerSDP: sdpBody(gwRelay, "")},
			pathAnchored, "mediation 127.0.0.1:21002"},
		{"relay range on another IP",
			endpoint.CallReport{Direction: endpoint.Inbound, MediaLocal: sbcMedia, MediaFrom: ap("127.0.0.2:21002"), OfferSDP: sdpBody(ap("127.0.0.2:21002"), "")},
			pathBypassed, "client 127.0.0.2:21002"},
		{"media not from where the SDP said",
			endpoint.CallReport{Direction: endpoint.Inbound, MediaLocal: sbcMedia, MediaFrom: gwRelay, OfferSDP: sdpBody(clientMedia, "")},
			pathUnknown, "127.0.0.1:21002"},
		{"no RTP",
			endpoint.CallReport{Direction: endpoint.Inbound, MediaLocal: sbcMedia, OfferSDP: sdpBody(clientMedia, "")},
			pathNone, "nothing received"},
		{"rejected: no media socket",
			endpoint.CallReport{Direction: endpoint.Inbound},
			pathNone, "SBC none <-> nothing received"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := sbcPath(tt.r, serverRange)
			if got.path != tt.want || !strings.Contains(got.drawn, tt.wantPath) || got.why == "" {
				t.Errorf("sbcPath = %+v, want %s with path containing %q", got, tt.want, tt.wantPath)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	// answered has received 100 - lost of 100 expected packets, with a 0.42 ms jitter.
	answered := func(lost int, hz float64) endpoint.CallReport {
		return endpoint.CallReport{Direction: endpoint.Outbound, Code: 200, EndedBy: endpoint.EndedLocalBye,
			PacketsSent: 100, PacketsReceived: 100 - lost, PacketsExpected: 100, PacketsLost: lost, Jitter: 420 * time.Microsecond,
			DetectedHz: hz, MediaFrom: sbcMedia, MediaLocal: clientMedia, EventPT: 101}
	}
	bypassed := mediaPath{path: pathBypassed, why: "w", drawn: "d"}
	anchored := mediaPath{path: pathAnchored, why: "w", drawn: "d"}
	tests := []struct {
		name     string
		r        endpoint.CallReport
		mp       mediaPath
		j        judgement
		wantPass bool
		wantLoss float64 // -1: none
		problem  string
		text     string // in the human summary
	}{
		{"bypass as expected", answered(2, 441), bypassed, judgement{expect: expectBypass, wantHz: 440, wantCode: 200}, true, 2, "", "lost 2 (2.0%), jitter 0.4 ms"},
		{"anchored, any", answered(0, 430), anchored, judgement{expect: expectAny, wantHz: 440, wantCode: 200}, true, 0, "", "received 100, lost 0 (0.0%)"},
		{"anchored, bypass expected", answered(0, 440), anchored, judgement{expect: expectBypass, wantHz: 440, wantCode: 200}, false, 0, "media anchored, expected bypass", ""},
		{"bypassed, anchored expected", answered(0, 440), bypassed, judgement{expect: expectAnchored, wantHz: 440, wantCode: 200}, false, 0, "expected anchored", ""},
		{"wrong tone", answered(0, 1000), bypassed, judgement{expect: expectAny, wantHz: 440, wantCode: 200}, false, 0, "heard 1000 Hz", ""},
		{"tone just inside", answered(0, 465), bypassed, judgement{expect: expectAny, wantHz: 440, wantCode: 200}, true, 0, "", ""},
		{"tone just outside", answered(0, 466), bypassed, judgement{expect: expectAny, wantHz: 440, wantCode: 200}, false, 0, "want 440 ±25 Hz", ""},
		{"silence", endpoint.CallReport{Code: 200, PacketsSent: 100, EventPT: 101}, mediaPath{path: pathNone}, judgement{expect: expectAny, wantHz: 440, wantCode: 200},
			false, -1, "heard 0 Hz in 0 packets", "received 0, lost n/a, jitter n/a"},
		{"a third lost", answered(33, 440), bypassed, judgement{expect: expectAny, wantHz: 440, wantCode: 200}, true, 33, "", "lost 33 (33.0%)"},
		{"busy", endpoint.CallReport{Code: 486, EndedBy: endpoint.EndedRejected, EventPT: -1}, mediaPath{path: pathNone},
			judgement{expect: expectBypass, wantHz: 440, wantCode: 200, dtmf: "12"}, false, -1, "final response 486, want 200", "dtmf         not sent (12): the call was not answered, received none\n"},
		{"busy as the SBC was told", endpoint.CallReport{Code: 486, EndedBy: endpoint.EndedRejected}, mediaPath{path: pathNone}, judgement{expect: expectBypass, wantHz: 440, wantCode: 486}, true, -1, "", ""},
		{"answered with an error", func() endpoint.CallReport {
			r := answered(0, 440)
			r.Err = errors.New("BYE: timeout")
			return r
		}(), bypassed, judgement{expect: expectAny, wantHz: 440, wantCode: 200}, false, 0, "error: BYE: timeout", ""},
		{"digits sent", func() endpoint.CallReport {
			r := answered(0, 440)
			r.DigitsSent = "12#"
			return r
		}(), bypassed, judgement{expect: expectAny, wantHz: 440, wantCode: 200, dtmf: "12#"}, true, 0, "",
			"dtmf         sent 12#, received none, telephone-event PT 101\n"},
		{"digits received on PT 96", func() endpoint.CallReport {
			r := answered(0, 440)
			r.DigitsReceived, r.EventPT = "*0", 96
			return r
		}(), anchored, judgement{expect: expectAny, wantHz: 440, wantCode: 200}, true, 0, "",
			"dtmf         received *0, telephone-event PT 96\n"},
		{"no telephone-event: DTMF is no failure", func() endpoint.CallReport {
			r := answered(0, 440)
			r.EventPT = -1
			return r
		}(), bypassed, judgement{expect: expectAny, wantHz: 440, wantCode: 200, dtmf: "5"}, true, 0, "",
			"not sent (5): the far end did not negotiate telephone-event, received none\n"},
		{"digits heard in-band", func() endpoint.CallReport {
			r := answered(0, 440)
			r.EventPT, r.DigitsReceivedInBand = -1, "1234#*"
			return r
		}(), anchored, judgement{expect: expectAny, wantHz: 440, wantCode: 200}, true, 0, "",
			"dtmf         received none, in-band 1234#*\n"},
		{"an SBC without telephone-event cannot send", func() endpoint.CallReport {
			r := answered(0, 440)
			r.EventPT = -1
			return r
		}(), anchored, judgement{expect: expectAny, wantHz: 440, wantCode: 200, dtmf: "9", noEvents: true}, true, 0, "",
			"dtmf         not sent (9): this SBC negotiates no telephone-event (--dtmf-pt -1), received none\n"},
		{"digits cut short", func() endpoint.CallReport {
			r := answered(0, 440)
			r.DigitsSent, r.EndedBy = "1", endpoint.EndedRemoteBye
			return r
		}(), bypassed, judgement{expect: expectAny, wantHz: 440, wantCode: 200, dtmf: "123"}, true, 0, "", `sent "1" of 123: the call ended first`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := summarize(roleClient, tt.r, tt.mp, tt.j)
			if s.Pass != tt.wantPass || (tt.problem != "" && !strings.Contains(strings.Join(s.Problems, "; "), tt.problem)) {
				t.Errorf("pass %v problems %q; want pass %v and a problem containing %q", s.Pass, s.Problems, tt.wantPass, tt.problem)
			}
			if (tt.wantLoss < 0) != (s.LossPercent == nil) || (s.LossPercent != nil && *s.LossPercent != tt.wantLoss) {
				t.Errorf("loss %v, want %v", s.LossPercent, tt.wantLoss)
			}
			if tt.wantLoss >= 0 && (s.PacketsLost == nil || *s.PacketsLost != tt.r.PacketsLost || s.JitterMs == nil || *s.JitterMs != 0.42) {
				t.Errorf("packets lost %v, jitter %v ms; want %d and 0.42", s.PacketsLost, s.JitterMs, tt.r.PacketsLost)
			}
			if tt.wantLoss < 0 && (s.PacketsLost != nil || s.JitterMs != nil) {
				t.Errorf("nothing received, yet packets lost %v, jitter %v", s.PacketsLost, s.JitterMs)
			}
			if s.DTMF != tt.j.dtmf || s.DTMFPT != tt.r.EventPT || s.DigitsSent != tt.r.DigitsSent || s.DigitsReceived != tt.r.DigitsReceived ||
				s.DigitsReceivedInBand != tt.r.DigitsReceivedInBand {
				t.Errorf("dtmf %q PT %d sent %q received %q in-band %q; want the report's", s.DTMF, s.DTMFPT, s.DigitsSent,
					s.DigitsReceived, s.DigitsReceivedInBand)
			}
			text := s.text()
			for _, want := range []string{"media", "packets", "audio", tt.text} {
				if !strings.Contains(text, want) {
					t.Errorf("text lacks %q:\n%s", want, text)
				}
			}
			if hasDTMF := tt.j.dtmf != "" || tt.r.DigitsReceived != "" || tt.r.DigitsReceivedInBand != ""; hasDTMF != strings.Contains(text, "dtmf") {
				t.Errorf("dtmf line shown: %v, want %v:\n%s", !hasDTMF, hasDTMF, text)
			}
			if tt.wantPass != strings.Contains(text, "result       PASS") {
				t.Errorf("text disagrees with the verdict:\n%s", text)
			}
		})
	}
}

func TestServerDirection(t *testing.T) {
	tests := []struct{ role, end, want string }{
		{roleClient, endpoint.Outbound, "outbound"},
		{roleClient, endpoint.Inbound, "inbound"},
		{roleSBC, endpoint.Inbound, "outbound"},
		{roleSBC, endpoint.Outbound, "inbound"},
	}
	for _, tt := range tests {
		if got := serverDirection(tt.role, tt.end); got != tt.want {
			t.Errorf("serverDirection(%s, %s) = %s, want %s", tt.role, tt.end, got, tt.want)
		}
	}
}

func TestParseMediaRange(t *testing.T) {
	tests := []struct {
		ip, ports string
		want      mediaRange
		wantErr   bool
	}{
		{"127.0.0.1", "49152-57500", mediaRange{netip.MustParseAddr("127.0.0.1"), 49152, 57500}, false},
		{"::1", "20000 - 20999", mediaRange{netip.MustParseAddr("::1"), 20000, 20999}, false},
		{"127.0.0.1", "57500-49152", mediaRange{}, true},
		{"127.0.0.1", "0-10", mediaRange{}, true},
		{"127.0.0.1", "49152", mediaRange{}, true},
		{"127.0.0.1", "1-70000", mediaRange{}, true},
		{"0.0.0.0", "1-2", mediaRange{}, true},
		{"localhost", "1-2", mediaRange{}, true},
	}
	for _, tt := range tests {
		got, err := parseMediaRange(tt.ip, tt.ports)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("parseMediaRange(%q, %q) = %v, %v", tt.ip, tt.ports, got, err)
		}
	}
	r := mediaRange{netip.MustParseAddr("127.0.0.1"), 20000, 20001}
	for a, want := range map[string]bool{"127.0.0.1:20000": true, "127.0.0.1:20001": true, "127.0.0.1:20002": false,
		"127.0.0.1:19999": false, "127.0.0.2:20000": false, "[::ffff:127.0.0.1]:20000": true} {
		if got := r.contains(ap(a)); got != want {
			t.Errorf("%s contains %s = %v", r, a, got)
		}
	}
}

func TestReporter(t *testing.T) {
	var buf bytes.Buffer
	rep := &reporter{w: &buf, json: true}
	rep.report(callSummary{Pass: true, Path: "client a <-> SBC b"})
	rep.report(callSummary{Pass: false})
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines of JSON, want 2: %q", len(lines), buf.String())
	}
	var first callSummary
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil || first.Call != 1 || first.Path != "client a <-> SBC b" {
		t.Errorf("first line %q: %+v, %v", lines[0], first, err)
	}
	if !strings.Contains(lines[0], "<->") {
		t.Errorf("JSON escapes the path: %s", lines[0])
	}
	tests := []struct {
		rep  reporter
		want int
		code int
	}{
		{reporter{calls: 2, failed: 1}, 0, exitFailure},
		{reporter{calls: 2}, 2, exitOK},
		{reporter{calls: 1}, 2, exitFailure}, // interrupted before the calls asked for
		{reporter{}, 0, exitOK},              // --calls 0 ended by a signal
	}
	for _, tt := range tests {
		if got := tt.rep.exitCode(tt.want); got != tt.code {
			t.Errorf("%+v exitCode(%d) = %d, want %d", tt.rep, tt.want, got, tt.code)
		}
	}
}

func TestJudgeDemoCall(t *testing.T) {
	report := func(local, from netip.AddrPort, hz float64) endpoint.CallReport {
		return endpoint.CallReport{Code: 200, Codec: "PCMA", MediaLocal: local, MediaFrom: from, PacketsSent: 50, PacketsReceived: 50,
			PacketsExpected: 50, Jitter: 1500 * time.Microsecond, DetectedHz: hz}
	}
	supported, lync := demoKinds[0], demoKinds[1]
	tests := []struct {
		name  string
		kind  demoKind
		r     mediationtest.CallResult
		err   error
		pass  bool
		media string
	}{
		{"bypassed as expected", supported, mediationtest.CallResult{Client: report(clientMedia, sbcMedia, 440), SBC: report(sbcMedia, clientMedia, 1000)}, nil, true, mediationtest.MediaBypassed},
		{"anchored, bypass expected", supported, mediationtest.CallResult{Client: report(clientMedia, edgeRelay, 440), SBC: report(sbcMedia, gwRelay, 1000)}, nil, false, mediationtest.MediaAnchored},
		{"anchored as expected", lync, mediationtest.CallResult{Client: report(clientMedia, edgeRelay, 440), SBC: report(sbcMedia, gwRelay, 1000)}, nil, true, mediationtest.MediaAnchored},
		{"bad audio", lync, mediationtest.CallResult{Client: report(clientMedia, edgeRelay, 1000), SBC: report(sbcMedia, gwRelay, 1000)}, nil, false, mediationtest.MediaAnchored},
		{"error", lync, mediationtest.CallResult{Client: report(clientMedia, edgeRelay, 440), SBC: report(sbcMedia, gwRelay, 1000)}, errors.New("BYE failed"), false, mediationtest.MediaAnchored},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.r.ClientHz, tt.r.SBCHz, tt.r.Direction = 1000, 440, mediationtest.Outbound
			row := judgeDemoCall(tt.kind, tt.r, tt.err)
			if row.Pass != tt.pass || row.Media != tt.media || row.Client != tt.kind.name || row.Expect != tt.kind.want {
				t.Errorf("row %+v, want pass %v media %s", row, tt.pass, tt.media)
			}
			if row.LossToSBC == nil || *row.LossToSBC != 0 || row.LossToClient == nil || *row.LossToClient != 0 {
				t.Errorf("loss %v to the SBC, %v to the client; want 0", row.LossToSBC, row.LossToClient)
			}
			if row.JitterToSBC == nil || *row.JitterToSBC != 1.5 || row.JitterToClient == nil || *row.JitterToClient != 1.5 {
				t.Errorf("jitter %v ms to the SBC, %v to the client; want 1.5", row.JitterToSBC, row.JitterToClient)
			}
			if !tt.pass && !strings.HasPrefix(resultText(row), "FAIL") {
				t.Errorf("result %q for a failed row", resultText(row))
			}
		})
	}
}

func TestParseCounters(t *testing.T) {
	text := `# HELP mediationserver_calls_total calls
# TYPE mediationserver_calls_total counter
mediationserver_calls_total{direction="inbound"} 3
mediationserver_calls_total{direction="outbound"} 2
mediationserver_gateway_side_port_pairs_open 0
go_goroutines 42
mediationserver_broken_line
`
	got, err := parseCounters(strings.NewReader(text))
	want := []demoCounter{{`mediationserver_calls_total{direction="inbound"}`, 3}, {`mediationserver_calls_total{direction="outbound"}`, 2},
		{"mediationserver_gateway_side_port_pairs_open", 0}}
	if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("parseCounters = %v, %v; want %v", got, err, want)
	}
	if _, err := parseCounters(strings.NewReader("go_goroutines 1\n")); err == nil {
		t.Error("no error for /metrics without the server's series")
	}
}

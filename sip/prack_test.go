package sip

import (
	"errors"
	"testing"

	gosip "github.com/emiago/sipgo/sip"
)

func prackWith(t *testing.T, extra ...string) *gosip.Request {
	t.Helper()
	lines := []string{
		"PRACK sip:b@192.0.2.2 SIP/2.0",
		"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKprack1",
		"From: <sip:a@example.com>;tag=1928301774",
		"To: <sip:b@example.com>;tag=8321234356",
		"Call-ID: a84b4c76e66710",
		"CSeq: 2 PRACK",
	}
	return parseRequest(t, append(lines, extra...)...)
}

func provisional(t *testing.T, status string, extra ...string) *gosip.Response {
	t.Helper()
	lines := []string{
		"SIP/2.0 " + status,
		"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKinv1",
		"From: <sip:a@example.com>;tag=1928301774",
		"To: <sip:b@example.com>;tag=8321234356",
		"Call-ID: a84b4c76e66710",
		"CSeq: 1 INVITE",
	}
	res, ok := parseRaw(t, append(lines, extra...)...).(*gosip.Response)
	if !ok {
		t.Fatalf("not a response: %q", status)
	}
	return res
}

func TestRAckString(t *testing.T) {
	r := RAck{RSeq: 776656, CSeq: 1, Method: gosip.INVITE}
	if got := r.String(); got != "776656 1 INVITE" {
		t.Errorf("String() = %q", got)
	}
	// It round-trips through ParseRAck.
	got, err := ParseRAck(prackWith(t, "RAck: "+r.String()))
	if err != nil || got != r {
		t.Errorf("round trip = %+v, %v", got, err)
	}
}

func TestParseRAck(t *testing.T) {
	tests := []struct {
		name    string
		headers []string
		want    RAck
		wantErr bool
	}{
		{"RFC 3262 example", []string{"RAck: 776656 1 INVITE"}, RAck{776656, 1, gosip.INVITE}, false},
		{"extra whitespace", []string{"RAck:  1   314159\tINVITE "}, RAck{1, 314159, gosip.INVITE}, false},
		{"largest RSeq", []string{"RAck: 4294967295 1 INVITE"}, RAck{4294967295, 1, gosip.INVITE}, false},
		{"other method kept", []string{"RAck: 5 1 UPDATE"}, RAck{5, 1, gosip.UPDATE}, false},
		{"absent", nil, RAck{}, true},
		{"empty", []string{"RAck:"}, RAck{}, true},
		{"two fields", []string{"RAck: 776656 1"}, RAck{}, true},
		{"four fields", []string{"RAck: 776656 1 INVITE x"}, RAck{}, true},
		{"RSeq zero", []string{"RAck: 0 1 INVITE"}, RAck{}, true},
		{"RSeq too big", []string{"RAck: 4294967296 1 INVITE"}, RAck{}, true},
		{"RSeq signed", []string{"RAck: +5 1 INVITE"}, RAck{}, true},
		{"RSeq not a number", []string{"RAck: abc 1 INVITE"}, RAck{}, true},
		{"CSeq negative", []string{"RAck: 5 -1 INVITE"}, RAck{}, true},
		{"CSeq too big", []string{"RAck: 5 4294967296 INVITE"}, RAck{}, true},
		{"method not a token", []string{"RAck: 5 1 INV@TE"}, RAck{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRAck(prackWith(t, tt.headers...))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("ParseRAck = %+v, %v; want %+v, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
	if _, err := ParseRAck(nil); !errors.Is(err, errNoRAck) {
		t.Errorf("nil request: %v", err)
	}
}

func TestRSeq(t *testing.T) {
	tests := []struct {
		name    string
		headers []string
		want    uint32
		wantOK  bool
		wantErr bool
	}{
		{"present", []string{"RSeq: 988789"}, 988789, true, false},
		{"largest", []string{"RSeq: 4294967295"}, 4294967295, true, false},
		{"absent", nil, 0, false, false},
		{"zero", []string{"RSeq: 0"}, 0, true, true},
		{"too big", []string{"RSeq: 4294967296"}, 0, true, true},
		{"negative", []string{"RSeq: -1"}, 0, true, true},
		{"not a number", []string{"RSeq: one"}, 0, true, true},
		{"two numbers", []string{"RSeq: 1 2"}, 0, true, true},
		{"empty", []string{"RSeq:"}, 0, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok, err := RSeq(provisional(t, "183 Session Progress", tt.headers...))
			if got != tt.want || ok != tt.wantOK || (err != nil) != tt.wantErr {
				t.Errorf("RSeq = %d, %v, %v; want %d, %v, error %v", got, ok, err, tt.want, tt.wantOK, tt.wantErr)
			}
			if tt.wantErr && !errors.Is(err, errBadNum) {
				t.Errorf("error %v does not wrap errBadNum", err)
			}
		})
	}
}

func TestIsReliable(t *testing.T) {
	tests := []struct {
		name    string
		status  string
		headers []string
		want    bool
	}{
		{"183 with 100rel and RSeq", "183 Session Progress", []string{"Require: 100rel", "RSeq: 1"}, true},
		{"180 with 100rel among others", "180 Ringing", []string{"Require: timer, 100REL", "RSeq: 7"}, true},
		{"101 is the lowest", "101 Dialog Establishment", []string{"Require: 100rel", "RSeq: 1"}, true},
		{"100 never", "100 Trying", []string{"Require: 100rel", "RSeq: 1"}, false},
		{"200 is final", "200 OK", []string{"Require: 100rel", "RSeq: 1"}, false},
		{"no Require", "180 Ringing", []string{"RSeq: 1"}, false},
		{"100rel only in Supported", "180 Ringing", []string{"Supported: 100rel", "RSeq: 1"}, false},
		{"no RSeq", "180 Ringing", []string{"Require: 100rel"}, false},
		{"bad RSeq", "180 Ringing", []string{"Require: 100rel", "RSeq: 0"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsReliable(provisional(t, tt.status, tt.headers...)); got != tt.want {
				t.Errorf("IsReliable = %v, want %v", got, tt.want)
			}
		})
	}
	if IsReliable(nil) {
		t.Error("nil response is reliable")
	}
}

func TestNewRSeq(t *testing.T) {
	seen := map[uint32]bool{}
	for range 1000 {
		r := NewRSeq()
		if r < 1 || r >= 1<<31 {
			t.Fatalf("NewRSeq() = %d, want 1..2^31-1", r)
		}
		seen[r] = true
	}
	if len(seen) < 990 {
		t.Errorf("only %d distinct values in 1000", len(seen))
	}
}

func TestReliableReceiver(t *testing.T) {
	tests := []struct {
		name  string
		rseqs []uint32
		want  []bool
	}{
		{"first is accepted", []uint32{42}, []bool{true}},
		{"in order", []uint32{42, 43, 44}, []bool{true, true, true}},
		{"retransmission", []uint32{42, 42, 43, 43}, []bool{true, false, true, false}},
		{"gap", []uint32{42, 44, 43, 44}, []bool{true, false, true, true}},
		{"lower", []uint32{42, 43, 41, 42}, []bool{true, true, false, false}},
		{"no wrap past 2^32-1", []uint32{4294967295, 0, 1}, []bool{true, false, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r ReliableReceiver
			for i, rseq := range tt.rseqs {
				if got := r.Accept(rseq); got != tt.want[i] {
					t.Errorf("Accept #%d (%d) = %v, want %v", i+1, rseq, got, tt.want[i])
				}
			}
		})
	}
}

func TestReliableSender(t *testing.T) {
	// Steps of one INVITE transaction (CSeq 10) with RSeq from 100.
	type step struct {
		op    string // "send", "ack"
		rack  RAck
		want  bool
		rseq  uint32 // for send: the RSeq assigned
		prack uint32 // for ack: the PRACK's CSeq (0: a new PRACK's)
	}
	inv := func(rseq uint32) RAck { return RAck{RSeq: rseq, CSeq: 10, Method: gosip.INVITE} }
	tests := []struct {
		name  string
		first uint32
		steps []step
	}{
		{"send and acknowledge", 100, []step{
			{op: "send", want: true, rseq: 100},
			{op: "ack", rack: inv(100), want: true},
			{op: "send", want: true, rseq: 101},
			{op: "ack", rack: inv(101), want: true},
		}},
		{"second waits for the first", 100, []step{
			{op: "send", want: true, rseq: 100},
			{op: "send", want: false},
			{op: "ack", rack: inv(100), want: true},
			{op: "send", want: true, rseq: 101},
		}},
		{"PRACK matching nothing outstanding", 100, []step{
			{op: "ack", rack: inv(100), want: false},
			{op: "send", want: true, rseq: 100},
			{op: "ack", rack: inv(101), want: false},
			{op: "ack", rack: inv(99), want: false},
		}},
		{"wrong CSeq or method", 100, []step{
			{op: "send", want: true, rseq: 100},
			{op: "ack", rack: RAck{RSeq: 100, CSeq: 11, Method: gosip.INVITE}, want: false},
			{op: "ack", rack: RAck{RSeq: 100, CSeq: 10, Method: gosip.UPDATE}, want: false},
			{op: "ack", rack: RAck{RSeq: 100, CSeq: 10, Method: "invite"}, want: false},
			{op: "ack", rack: inv(100), want: true},
		}},
		{"late PRACK retransmission", 100, []step{
			{op: "send", want: true, rseq: 100},
			{op: "ack", rack: inv(100), prack: 20, want: true},
			{op: "ack", rack: inv(100), prack: 20, want: true},  // the same PRACK again
			{op: "ack", rack: inv(100), prack: 21, want: false}, // a new PRACK of an acknowledged one: 481
			{op: "send", want: true, rseq: 101},
			{op: "ack", rack: inv(100), prack: 20, want: true}, // still the last acknowledged
			{op: "ack", rack: inv(101), prack: 22, want: true},
			{op: "ack", rack: inv(100), prack: 20, want: false}, // no longer the last
			{op: "send", want: true, rseq: 102},
		}},
		{"zero start becomes 1", 0, []step{
			{op: "send", want: true, rseq: 1},
			{op: "ack", rack: inv(0), want: false},
			{op: "ack", rack: inv(1), want: true},
		}},
		{"numbering skips 0 when it wraps", 4294967295, []step{
			{op: "send", want: true, rseq: 4294967295},
			{op: "ack", rack: inv(4294967295), prack: 20, want: true},
			{op: "send", want: true, rseq: 1},
			{op: "ack", rack: inv(4294967295), prack: 20, want: true},
			{op: "ack", rack: inv(0), want: false},
			{op: "ack", rack: inv(2), want: false},
			{op: "ack", rack: inv(1), want: true},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewReliableSender(tt.first)
			prack := uint32(100)
			for i, st := range tt.steps {
				switch st.op {
				case "send":
					before, wasOut := s.Outstanding()
					rseq, ok := s.Send()
					if ok != st.want || (ok && rseq != st.rseq) {
						t.Fatalf("step %d: Send() = %d, %v; want %d, %v", i+1, rseq, ok, st.rseq, st.want)
					}
					out, isOut := s.Outstanding()
					switch {
					case ok && (!isOut || out != rseq):
						t.Fatalf("step %d: Outstanding() = %d, %v after sending %d", i+1, out, isOut, rseq)
					case !ok && (out != before || isOut != wasOut):
						t.Fatalf("step %d: a refused Send changed Outstanding", i+1)
					}
				case "ack":
					wasOut, had := s.Outstanding()
					prack++
					if st.prack != 0 {
						prack = st.prack
					}
					if got := s.Acknowledge(st.rack, 10, prack); got != st.want {
						t.Fatalf("step %d: Acknowledge(%v) = %v, want %v", i+1, st.rack, got, st.want)
					}
					out, isOut := s.Outstanding()
					if had && st.rack.RSeq == wasOut && st.want {
						if isOut {
							t.Fatalf("step %d: still outstanding after its PRACK", i+1)
						}
					} else if isOut != had || out != wasOut {
						t.Fatalf("step %d: Acknowledge changed Outstanding to %d, %v", i+1, out, isOut)
					}
				}
			}
		})
	}
}

// TestReliableReceiversPerFork: two forks number their reliable
// provisionals from starts of their own; each is accepted in its own
// order, retransmissions and gaps refused per fork.
func TestReliableReceiversPerFork(t *testing.T) {
	var rs ReliableReceivers
	for i, step := range []struct {
		tag  string
		rseq uint32
		want bool
	}{
		{"a", 100, true}, {"b", 7000, true}, {"a", 100, false}, {"b", 7001, true},
		{"a", 101, true}, {"b", 7003, false}, {"c", 1, true}, {"b", 7002, true},
	} {
		if got := rs.Accept(step.tag, step.rseq); got != step.want {
			t.Errorf("step %d: Accept(%s, %d) = %v, want %v", i, step.tag, step.rseq, got, step.want)
		}
	}
}

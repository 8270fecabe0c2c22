package sip

import (
	"math"
	"testing"
	"time"
)

const (
	testT1 = 500 * time.Millisecond
	testT2 = 4 * time.Second
)

func TestBackoffSchedules(t *testing.T) {
	secs := func(v ...float64) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, s := range v {
			out[i] = time.Duration(s * float64(time.Second))
		}
		return out
	}
	tests := []struct {
		name string
		b    Backoff
		// want are the waits of the retransmissions that are sent; the
		// next one must report false.
		want []time.Duration
	}{
		{
			// RFC 3261 §13.3.1.4: 2xx from T1 doubling to T2 for 64*T1;
			// the 10th goes at 31.5 s, the 11th would be at 35.5 s.
			"2xx to INVITE", Backoff{T1: testT1, Cap: testT2, Total: 64 * testT1},
			secs(0.5, 1, 2, 4, 4, 4, 4, 4, 4, 4),
		},
		{
			// RFC 3262 §3: no cap; the 6th goes at 31.5 s, the 7th
			// would be at 63.5 s, after the give-up at 32 s.
			"reliable provisional", Backoff{T1: testT1, Total: 64 * testT1},
			secs(0.5, 1, 2, 4, 8, 16),
		},
		{
			// RFC 3261 §17.1.2.2 Timer E with T2 = 4 s is the 2xx case.
			"Timer E", Backoff{T1: testT1, Cap: testT2, Total: 64 * testT1},
			secs(0.5, 1, 2, 4, 4, 4, 4, 4, 4, 4),
		},
		{
			"retransmission exactly at Total is not sent", Backoff{T1: time.Second, Total: 3 * time.Second},
			secs(1),
		},
		{
			"cap below T1", Backoff{T1: time.Second, Cap: 500 * time.Millisecond, Total: 2 * time.Second},
			secs(0.5, 0.5, 0.5),
		},
		{"no Total", Backoff{T1: testT1, Cap: testT2}, nil},
		{"no T1", Backoff{Cap: testT2, Total: time.Minute}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i, want := range tt.want {
				n := i + 1
				got, more := tt.b.Next(n)
				if got != want || !more {
					t.Errorf("Next(%d) = %v, %v; want %v, true", n, got, more, want)
				}
			}
			n := len(tt.want) + 1
			if _, more := tt.b.Next(n); more {
				t.Errorf("Next(%d) is still sent", n)
			}
			// Once it stops it stays stopped.
			if _, more := tt.b.Next(n + 5); more {
				t.Errorf("Next(%d) is sent again", n+5)
			}
		})
	}
}

func TestBackoffNext(t *testing.T) {
	twoxx := Backoff{T1: testT1, Cap: testT2, Total: 64 * testT1}
	rel := Backoff{T1: testT1, Total: 64 * testT1}
	tests := []struct {
		name     string
		b        Backoff
		n        int
		wantWait time.Duration
		wantMore bool
	}{
		{"n = 0 is the original send", twoxx, 0, 0, false},
		{"negative n", twoxx, -1, 0, false},
		{"wait returned past Total, capped", twoxx, 11, testT2, false},
		{"wait returned past Total, uncapped", rel, 7, 32 * time.Second, false},
		{"huge n, capped", twoxx, math.MaxInt, testT2, false},
		{"huge n, uncapped, no overflow", rel, 200, math.MaxInt64, false},
		{"long Total, capped", Backoff{T1: testT1, Cap: testT2, Total: time.Hour}, 800, testT2, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, more := tt.b.Next(tt.n)
			if w != tt.wantWait || more != tt.wantMore {
				t.Errorf("Next(%d) = %v, %v; want %v, %v", tt.n, w, more, tt.wantWait, tt.wantMore)
			}
		})
	}
}

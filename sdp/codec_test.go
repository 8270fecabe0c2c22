// Tests of codec matching and a=rtpmap reading and writing.

package sdp

import "testing"

func TestCodecIsG711(t *testing.T) {
	tests := []struct {
		c    Codec
		want bool
	}{
		{PCMU, true},
		{PCMA, true},
		{Codec{PT: 0, Name: "pcmu", Rate: 8000}, true},
		{Codec{PT: 96, Name: "PcMa", Rate: 8000}, true},
		{Codec{PT: 96, Name: "PCMA", Rate: 16000}, false},
		{Codec{PT: 9, Name: "G722", Rate: 8000}, false},
		{TelephoneEvent, false},
		{Codec{PT: 0}, false},
	}
	for _, tt := range tests {
		if got := tt.c.IsG711(); got != tt.want {
			t.Errorf("%+v.IsG711() = %v, want %v", tt.c, got, tt.want)
		}
	}
}

func TestCodecSame(t *testing.T) {
	tests := []struct {
		a, b Codec
		want bool
	}{
		{TelephoneEvent, Codec{PT: 96, Name: "TELEPHONE-EVENT", Rate: 8000}, true},
		{PCMU, Codec{PT: 0, Name: "PCMU", Rate: 8000}, true}, // 0 channels means 1
		{PCMU, PCMA, false},
		{Codec{Name: "G722", Rate: 8000, Channels: 2}, Codec{Name: "G722", Rate: 8000, Channels: 1}, false},
		{Codec{Name: "telephone-event", Rate: 8000}, Codec{Name: "telephone-event", Rate: 16000}, false},
	}
	for _, tt := range tests {
		if got := tt.a.Same(tt.b); got != tt.want {
			t.Errorf("%+v.Same(%+v) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestParseRtpmap(t *testing.T) {
	tests := []struct {
		in   string
		want Codec
		ok   bool
	}{
		{"0 PCMU/8000", PCMU, true},
		{"117 G722/8000/2", Codec{PT: 117, Name: "G722", Rate: 8000, Channels: 2}, true},
		{"101 telephone-event/8000", Codec{PT: 101, Name: "telephone-event", Rate: 8000, Channels: 1}, true},
		{"128 PCMU/8000", Codec{}, false},
		{"x PCMU/8000", Codec{}, false},
		{"0 PCMU", Codec{}, false},
		{"0 PCMU/fast", Codec{}, false},
		{"0 PCMU/8000/0", Codec{}, false},
		{"0", Codec{}, false},
		{"0 /8000", Codec{}, false},
	}
	for _, tt := range tests {
		got, ok := parseRtpmap(tt.in)
		if ok != tt.ok || got != tt.want {
			t.Errorf("parseRtpmap(%q) = %+v, %v; want %+v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestCodecRtpmap(t *testing.T) {
	tests := []struct {
		c    Codec
		want string
	}{
		{PCMA, "8 PCMA/8000"},
		{Codec{PT: 0, Name: "PCMU", Rate: 8000}, "0 PCMU/8000"},
		{Codec{PT: 117, Name: "G722", Rate: 8000, Channels: 2}, "117 G722/8000/2"},
	}
	for _, tt := range tests {
		if got := string(tt.c.appendRtpmap(nil)); got != tt.want {
			t.Errorf("rtpmap(%+v) = %q, want %q", tt.c, got, tt.want)
		}
	}
}

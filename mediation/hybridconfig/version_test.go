package hybridconfig

import "testing"

func TestClientVersion(t *testing.T) {
	tests := []struct {
		ua     string
		want   Version
		wantOK bool
	}{
		{"UCCAPI/16.0.7870.2020 OC/16.0.7870.2020 (Skype for Business)", Version{16, 0, 7870, 2020}, true},
		{"UCCAPI/16.0.4591.1000 OC/16.0.4600.1000 (Skype for Business)", Version{16, 0, 4600, 1000}, true},
		{"UCCAPI/15.0.4420.1017 OC/15.0.4420.1017 (Microsoft Lync)", Version{15, 0, 4420, 1017}, true},
		{"UCCAPI/16.0.8000.1", Version{16, 0, 8000, 1}, true},
		{"OC/16.0.8000.1 UCCAPI/16.0.7000.1", Version{16, 0, 8000, 1}, true},
		{"uccapi/16.0.7870.2020 oc/16.0.7870.2020", Version{16, 0, 7870, 2020}, true},
		{"Skype for Business/16.0.7870.2020 (Windows)", Version{16, 0, 7870, 2020}, true},
		{"Mozilla/5.0 (Skype for Business/16.0.9000.12; Windows NT 10.0)", Version{16, 0, 9000, 12}, true},
		// A malformed OC/ build falls back to UCCAPI/.
		{"UCCAPI/16.0.7870.2020 OC/16.0.x (Skype for Business)", Version{16, 0, 7870, 2020}, true},
		// OC/ inside another product name is not the client build.
		{"DOC/16.0.1.1 UCCAPI/16.0.7870.2020", Version{16, 0, 7870, 2020}, true},
		{"DOC/16.0.1.1", Version{}, false},
		{"", Version{}, false},
		{"Go-http-client/1.1", Version{}, false},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64)", Version{}, false},
		{"UCCAPI/16.0.7870", Version{}, false},
		{"UCCAPI/16.0.7870.2020.5", Version{}, false},
		{"UCCAPI/16..7870.2020", Version{}, false},
		{"UCCAPI/", Version{}, false},
		{"UCCAPI/16.0.7870.99999999999999999999", Version{}, false},
		{"Skype for Business/16.8.196 (Mac)", Version{}, false},
	}
	for _, tt := range tests {
		got, ok := ClientVersion(tt.ua)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("ClientVersion(%q) = %v, %v; want %v, %v", tt.ua, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestVersionCompare(t *testing.T) {
	tests := []struct {
		a, b Version
		want int
	}{
		{Version{16, 0, 7870, 2020}, Version{16, 0, 7870, 2020}, 0},
		{Version{16, 0, 7870, 2019}, Version{16, 0, 7870, 2020}, -1},
		{Version{16, 0, 7871, 0}, Version{16, 0, 7870, 2020}, 1},
		{Version{15, 9, 9999, 9999}, Version{16, 0, 0, 0}, -1},
		{Version{16, 1, 0, 0}, Version{16, 0, 9999, 9999}, 1},
		{Version{16, 0, 8000, 1}, MinBypassVersion, 1},
	}
	for _, tt := range tests {
		if got := tt.a.Compare(tt.b); got != tt.want {
			t.Errorf("%v.Compare(%v) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := tt.a.Less(tt.b); got != (tt.want < 0) {
			t.Errorf("%v.Less(%v) = %v, want %v", tt.a, tt.b, got, tt.want < 0)
		}
	}
	if s := MinBypassVersion.String(); s != "16.0.7870.2020" {
		t.Errorf("String() = %q", s)
	}
}

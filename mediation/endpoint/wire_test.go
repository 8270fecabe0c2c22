package endpoint

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
)

// rawPeer is a bare UDP socket that speaks SIP through sipgo's message types
// and parser, to see exactly what an endpoint puts on the wire.
type rawPeer struct {
	conn *net.UDPConn
	addr netip.AddrPort
}

func newRawPeer(t *testing.T) *rawPeer {
	t.Helper()
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return &rawPeer{conn: conn, addr: conn.LocalAddr().(*net.UDPAddr).AddrPort()}
}

// read returns the next SIP message and its size on the wire.
func (p *rawPeer) read(t *testing.T, ctx context.Context) (sip.Message, int, netip.AddrPort) {
	t.Helper()
	deadline, _ := ctx.Deadline()
	if err := p.conn.SetReadDeadline(deadline); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65535)
	n, from, err := p.conn.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	msg, err := sip.NewParser().ParseSIP(buf[:n])
	if err != nil {
		t.Fatalf("parse %q: %v", buf[:n], err)
	}
	return msg, n, from
}

func (p *rawPeer) send(t *testing.T, msg sip.Message, to netip.AddrPort) {
	t.Helper()
	if _, err := p.conn.WriteToUDPAddrPort([]byte(msg.String()), to); err != nil {
		t.Fatal(err)
	}
}

// finalResponse reads until a final response to method arrives.
func (p *rawPeer) finalResponse(t *testing.T, ctx context.Context, method sip.RequestMethod) *sip.Response {
	t.Helper()
	for {
		msg, _, _ := p.read(t, ctx)
		res, ok := msg.(*sip.Response)
		if ok && !res.IsProvisional() && res.CSeq().MethodName == method {
			return res
		}
	}
}

// request builds a request from the raw peer to target.
func (p *rawPeer) request(method sip.RequestMethod, target netip.AddrPort, body []byte) *sip.Request {
	uri := sip.Uri{Scheme: "sip", User: "+15550100", Host: target.Addr().String(), Port: int(target.Port())}
	req := sip.NewRequest(method, uri)
	via := &sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: "UDP",
		Host: p.addr.Addr().String(), Port: int(p.addr.Port()), Params: sip.NewParams()}
	via.Params.Add("branch", sip.GenerateBranch())
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: "raw", Host: "127.0.0.1"}, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(8))
	to := &sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: "+15550100", Host: "127.0.0.1"}}
	callID := sip.CallIDHeader(sip.GenerateTagN(16))
	contact := &sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "raw", Host: p.addr.Addr().String(), Port: int(p.addr.Port())}}
	maxFwd := sip.MaxForwardsHeader(70)
	req.AppendHeader(via)
	req.AppendHeader(from)
	req.AppendHeader(to)
	req.AppendHeader(&callID)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: 1, MethodName: method})
	req.AppendHeader(contact)
	req.AppendHeader(&maxFwd)
	if body != nil {
		ct := sip.ContentTypeHeader("application/sdp")
		req.AppendHeader(&ct)
	}
	req.SetBody(body)
	return req
}

// TestSfBInvite checks the client's INVITE as a mediation server receives it:
// larger than sipgo's default UDP limit and shaped like SfB's.
func TestSfBInvite(t *testing.T) {
	for _, bypassID := range []string{testBypassID, ""} {
		t.Run("bypass ID "+bypassID, func(t *testing.T) {
			ctx := testContext(t)
			peer := newRawPeer(t)
			client := startClient(t, ctx, ClientConfig{BypassID: bypassID})
			done := callAsync(ctx, client.Call, CallOptions{Target: peer.addr, To: "+15550100", From: "alice"})

			msg, size, from := peer.read(t, ctx)
			invite, ok := msg.(*sip.Request)
			if !ok || invite.Method != sip.INVITE {
				t.Fatalf("got %s", msg.String())
			}
			if size <= 1300 {
				t.Errorf("INVITE is %d bytes; an SfB-like one exceeds 1300", size)
			}
			if from != client.Addr() {
				t.Errorf("INVITE from %s, want the client's SIP socket %s", from, client.Addr())
			}
			for name, want := range map[string]string{
				"User-Agent":                DefaultClientUserAgent,
				"Supported":                 "ms-early-media",
				"ms-subnet":                 "127.0.0.0",
				"ms-endpoint-location-data": "NetworkScope;ms-media-location-type=Intranet",
				"Content-Type":              "application/sdp",
			} {
				if h := invite.GetHeader(name); h == nil || h.Value() != want {
					t.Errorf("%s: %v, want %q", name, h, want)
				}
			}
			if invite.From().Address.User != "alice" || invite.To().Address.User != "+15550100" || invite.Contact() == nil {
				t.Errorf("From %s, To %s, Contact %v", invite.From(), invite.To(), invite.Contact())
			}
			if got := attrValue(t, invite.Body(), attrBypassID); got != bypassID {
				t.Errorf("a=x-bypassid %q, want %q", got, bypassID)
			}

			peer.send(t, sip.NewResponseFromRequest(invite, 486, "Busy Here", nil), from)
			for { // sipgo ACKs the non-2xx itself; skip INVITE retransmissions
				msg, _, _ := peer.read(t, ctx)
				if req, ok := msg.(*sip.Request); ok && req.Method == sip.ACK {
					break
				}
			}
			res := await(t, ctx, done)
			if res.err != nil || res.r.Code != 486 || res.r.EndedBy != EndedRejected || res.r.PacketsSent != 0 {
				t.Errorf("report: code %d, ended by %q, sent %d, err %v", res.r.Code, res.r.EndedBy, res.r.PacketsSent, res.err)
			}
		})
	}
}

// TestBadRequests checks what a peer gets for INVITEs the endpoints cannot
// take, and that OPTIONS pings are answered.
func TestBadRequests(t *testing.T) {
	ctx := testContext(t)
	sbc := startSBC(t, ctx, SBCConfig{})
	client := startClient(t, ctx, ClientConfig{})
	silk := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
		"m=audio 5000 RTP/AVP 104\r\na=rtpmap:104 SILK/16000\r\n"
	cases := []struct {
		name   string
		target netip.AddrPort
		method sip.RequestMethod
		body   string
		code   int
		report bool // the endpoint reports the rejected call
	}{
		{"SBC: no SDP", sbc.Addr(), sip.INVITE, "", 488, true},
		{"SBC: garbage SDP", sbc.Addr(), sip.INVITE, "not sdp", 488, true},
		{"SBC: no G.711", sbc.Addr(), sip.INVITE, silk, 488, true},
		{"client: garbage SDP", client.Addr(), sip.INVITE, "v=0\r\n", 488, true},
		{"client: no G.711", client.Addr(), sip.INVITE, silk, 488, true},
		{"SBC: OPTIONS", sbc.Addr(), sip.OPTIONS, "", 200, false},
		{"client: OPTIONS", client.Addr(), sip.OPTIONS, "", 200, false},
		{"SBC: BYE outside a dialog", sbc.Addr(), sip.BYE, "", 481, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			peer := newRawPeer(t)
			var body []byte
			if tc.body != "" {
				body = []byte(tc.body)
			}
			req := peer.request(tc.method, tc.target, body)
			if tc.method == sip.BYE {
				req.To().Params.Add("tag", "nosuchdialog")
			}
			peer.send(t, req, tc.target)
			res := peer.finalResponse(t, ctx, tc.method)
			if res.StatusCode != tc.code {
				t.Fatalf("got %d %s, want %d", res.StatusCode, res.Reason, tc.code)
			}
			if !tc.report {
				return
			}
			next := sbc.NextCall
			if tc.target == client.Addr() {
				next = client.NextCall
			}
			r, err := next(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if r.Code != tc.code || r.EndedBy != EndedRejected || r.Err == nil || r.CallID != req.CallID().Value() {
				t.Errorf("report: code %d, ended by %q, err %v, call %q", r.Code, r.EndedBy, r.Err, r.CallID)
			}
		})
	}
}

func TestStartErrors(t *testing.T) {
	ctx := testContext(t)
	sbcs := map[string]SBCConfig{
		"reject 200":               {Reject: 200},
		"reject 99":                {Reject: 99},
		"codec G729":               {Codecs: []string{"G729"}},
		"wildcard listen":          {Listen: "0.0.0.0:0"},
		"hostname listen":          {Listen: "localhost:0"},
		"user agent CRLF":          {UserAgent: "x\r\nVia: evil"},
		"foreign listen":           {Listen: "192.0.2.1:0"},
		"event PT 95":              {TelephoneEventPT: 95},
		"event PT 128":             {TelephoneEventPT: 128},
		"event PT -2":              {TelephoneEventPT: -2},
		"early events with events": {TelephoneEventPT: 96, EarlyTelephoneEvent: true},
		"early events without 183": {TelephoneEventPT: NoTelephoneEvent, EarlyTelephoneEvent: true, Progress: ProgressRinging},
		"answer DTMF E":            {AnswerDTMF: "12E"},
		"progress 181":             {Progress: "181"},
	}
	for name, cfg := range sbcs {
		if s, err := StartSBC(ctx, cfg); err == nil {
			_ = s.Close()
			t.Errorf("StartSBC %s: no error", name)
		}
	}
	clients := map[string]ClientConfig{
		"bypass ID with space": {BypassID: "a b"},
		"bypass ID with CRLF":  {BypassID: "a\r\na=evil"},
		"user agent CRLF":      {UserAgent: "x\ny"},
		"answer DTMF !":        {AnswerDTMF: "!"},
	}
	for name, cfg := range clients {
		if c, err := StartClient(ctx, cfg); err == nil {
			_ = c.Close()
			t.Errorf("StartClient %s: no error", name)
		}
	}
}

func TestSIPPortTakenByTCP(t *testing.T) {
	ctx := testContext(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if s, err := StartSBC(ctx, SBCConfig{Listen: ln.Addr().String()}); err == nil {
		_ = s.Close()
		t.Fatal("StartSBC on a port whose TCP side is taken: no error")
	}
}

func TestCallOptionErrors(t *testing.T) {
	ctx := testContext(t)
	sbc := startSBC(t, ctx, SBCConfig{})
	client := startClient(t, ctx, ClientConfig{})
	cases := map[string]CallOptions{
		"no target":       {},
		"port 0":          {Target: netip.MustParseAddrPort("127.0.0.1:0")},
		"transport tls":   {Target: sbc.Addr(), Transport: "tls"},
		"From with CRLF":  {Target: sbc.Addr(), From: "a\r\nVia: evil"},
		"To with space":   {Target: sbc.Addr(), To: "a b"},
		"To with at-sign": {Target: sbc.Addr(), To: "a@b"},
		"DTMF with x":     {Target: sbc.Addr(), DTMF: "12x"},
	}
	for name, opt := range cases {
		r, err := client.Call(ctx, opt)
		if err == nil || r.Err == nil || r.EndedBy != EndedError {
			t.Errorf("client %s: err %v, report %+v", name, err, r)
		}
		opt.Target = client.Addr()
		if name == "no target" || name == "port 0" {
			opt.Target = netip.AddrPort{}
		}
		if _, err := sbc.Call(ctx, opt); err == nil {
			t.Errorf("sbc %s: no error", name)
		}
	}
	if _, err := sbc.Call(ctx, CallOptions{Target: client.Addr(), BypassID: "x\r\ny"}); err == nil {
		t.Error("sbc: bypass ID with CRLF accepted")
	}
	if !strings.Contains(DefaultClientUserAgent, "Skype for Business") {
		t.Error("client user agent does not look like SfB")
	}
}

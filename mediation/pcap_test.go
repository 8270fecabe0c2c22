package mediation_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/endpoint"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
	"github.com/mediation-emulator/mediation/mediation/mediationtest/tools"
	"github.com/rs/zerolog"
)

// TestPcapCapture: with capture.pcap and capture.pcap_media, tshark finds
// in the file the INVITE carrying a=x-bypassid of a bypassed call, every
// SIP message of both calls with the server's real addresses, and the RTP
// of the anchored call on both of its legs (set up by the SDP in the same
// file, as Wireshark's VoIP Calls finds it).
func TestPcapCapture(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	tools.Tshark(t)
	file := filepath.Join(t.TempDir(), "mediation.pcap")
	lab, err := mediationtest.New(ctx, mediationtest.Options{Configure: func(c *mediation.Config) {
		c.Capture.Pcap, c.Capture.PcapMedia = file, true
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer lab.Close()
	callBypassedAndAnchored(t, ctx, lab, 500*time.Millisecond)
	edge, gw := lab.Server.EdgeAddr().String(), lab.Server.GatewayAddr().String()
	// Closing the server closes the file: everything is in it.
	if err := lab.Close(); err != nil {
		t.Fatal(err)
	}

	inv := tools.TsharkFields(t, ctx, file, `sip.Method == "INVITE" && sip contains "a=x-bypassid:`+mediationtest.DefaultBypassID+`"`,
		"ip.dst", "udp.dstport", "sip.Call-ID")
	if len(inv) == 0 {
		t.Fatal("no INVITE with a=x-bypassid in the capture")
	}
	dsts := map[string]bool{}
	for _, r := range inv {
		dsts[r[0]+":"+r[1]] = true
	}
	if !dsts[edge] {
		t.Errorf("no INVITE with a=x-bypassid to the edge side %s: %v", edge, dsts)
	}

	sipRows := tools.TsharkFields(t, ctx, file, "sip", "sip.CSeq.method", "sip.Status-Code")
	count := map[string]int{}
	for _, r := range sipRows {
		count[strings.Join(r, " ")]++
	}
	// Two calls, two legs each: INVITE, 200, ACK, BYE and its 200 each.
	for _, k := range []string{"INVITE ", "INVITE 200", "ACK ", "BYE ", "BYE 200"} {
		if count[k] < 4 {
			t.Errorf("%d %q in the capture, want 4 (two calls, two legs): %v", count[k], k, count)
		}
	}

	// The anchored call's RTP: both legs, both directions, through the
	// server's media address.
	rtp := tools.TsharkFields(t, ctx, file, "rtp", "ip.src", "udp.srcport", "ip.dst", "udp.dstport", "rtp.ssrc")
	streams := map[string]int{}
	for _, r := range rtp {
		streams[r[0]+":"+r[1]+" > "+r[2]+":"+r[3]]++
	}
	if len(streams) < 4 {
		t.Fatalf("RTP streams %v, want 4 (two legs, both ways) of the anchored call", streams)
	}
	for s, n := range streams {
		if n < 10 {
			t.Errorf("RTP stream %s: %d packets, want a call's worth", s, n)
		}
	}
	rtcp := tools.TsharkFields(t, ctx, file, "rtcp", "frame.number")
	t.Logf("capture: %d SIP messages, %d RTP packets in %d streams, %d RTCP; edge %s gateway %s",
		len(sipRows), len(rtp), len(streams), len(rtcp), edge, gw)
}

// callBypassedAndAnchored places one outbound call with a client the web
// service grants bypass (bypassed) and one with a Lync 2013 client
// (anchored), each lasting d, and returns the edge Call-IDs.
func callBypassedAndAnchored(t *testing.T, ctx context.Context, lab *mediationtest.Lab, d time.Duration) (bypassed, anchored string) {
	t.Helper()
	var ids []string
	for _, c := range []struct {
		version, media string
	}{{mediationtest.SupportedVersion, mediationtest.MediaBypassed}, {mediationtest.Lync2013Version, mediationtest.MediaAnchored}} {
		client, err := lab.NewClient(ctx, mediationtest.ClientOptions{Version: c.version})
		if err != nil {
			t.Fatal(err)
		}
		res, err := lab.CallOut(ctx, client, endpoint.CallOptions{Duration: d})
		if err != nil {
			t.Fatal(err)
		}
		if res.Media() != c.media {
			t.Fatalf("call media %s, want %s", res.Media(), c.media)
		}
		ids = append(ids, res.Client.CallID)
	}
	return ids[0], ids[1]
}

// TestPcapCapturesRefusedRequests: a stranger's INVITEs, refused with 403
// before any call exists, are still in the capture with their 403s (a
// network trace shows the wire), though they are no call's.
func TestPcapCapturesRefusedRequests(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	tools.Tshark(t)
	file := filepath.Join(t.TempDir(), "mediation.pcap")
	lab, err := mediationtest.New(ctx, mediationtest.Options{Configure: func(c *mediation.Config) {
		c.Capture.Pcap = file
		c.Untrusted.UDP = mediation.UntrustedReject
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer lab.Close()
	conn := strangerUDP(t)
	from := netip.MustParseAddrPort(conn.LocalAddr().String())
	buf := make([]byte, 4096)
	for i := range 3 {
		if _, err := conn.WriteToUDPAddrPort([]byte(strangerInvite(lab.Server.GatewayAddr(), from, "udp")), lab.Server.GatewayAddr()); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		if n, _, err := conn.ReadFromUDPAddrPort(buf); err != nil || !strings.HasPrefix(string(buf[:n]), "SIP/2.0 403 ") {
			t.Fatalf("INVITE %d: %v %q", i, err, buf[:n])
		}
	}
	if n := lab.Server.BookCalls(); n != 0 {
		t.Errorf("the call book holds %d calls of refused INVITEs", n)
	}
	if err := lab.Close(); err != nil {
		t.Fatal(err)
	}
	rows := tools.TsharkFields(t, ctx, file, "sip && ip.addr == "+stranger.String(), "ip.src", "sip.Method", "sip.Status-Code")
	count := map[string]int{}
	for _, r := range rows {
		count[strings.Join(r, " ")]++
	}
	if count[stranger.String()+" INVITE "] != 3 || count[lab.Server.GatewayAddr().Addr().String()+"  403"] != 3 {
		t.Errorf("capture of the stranger's traffic: %v, want 3 INVITEs from %s and 3 403s", count, stranger)
	}
}

// TestFailedStartKeepsPcap: a start that fails because a listener's port
// is in use (exit 2, "before anything binds") leaves capture.pcap as it
// was. The usual way to get there is starting `serve --pcap FILE` a second
// time while the first server runs: a capture begun before the bind would
// truncate the running server's file, which then goes on writing at its
// old offset and leaves a file tshark calls corrupt.
func TestFailedStartKeepsPcap(t *testing.T) {
	busy, err := net.ListenPacket("udp", "127.0.64.20:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	file := filepath.Join(t.TempDir(), "mediation.pcap")
	const earlier = "the capture of the server already running"
	if err := os.WriteFile(file, []byte(earlier), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := mediation.DefaultConfig()
	cfg.Edge.Listen = busy.LocalAddr().String() // in use: the start fails
	cfg.GatewayListen, cfg.HTTPListen, cfg.Admin.Listen = "127.0.64.20:0", "127.0.64.20:0", "127.0.64.20:0"
	cfg.Capture.Pcap = file
	s, err := mediation.NewServer(cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	var le *mediation.ListenError
	if err := s.Run(testCtx(t, 10*time.Second)); !errors.As(err, &le) || le.Listener != "edge.listen" {
		t.Fatalf("Run: %v, want the ListenError of edge.listen (port in use)", err)
	}
	got, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != earlier {
		t.Errorf("a start that failed to bind rewrote capture.pcap: %d bytes %q, want the earlier file untouched", len(got), got)
	}
}

// TestFailedStartCreatesNoRecordsFile: a start that fails because a
// listener's port is in use (the first one bound, or the last) creates no
// records file: the records file is opened once every socket is bound, so
// a second `serve` started by mistake leaves no empty file where the
// operator's collector looks for records.
func TestFailedStartCreatesNoRecordsFile(t *testing.T) {
	for _, busyListener := range []string{"edge.listen", "admin.listen"} {
		t.Run(busyListener, func(t *testing.T) {
			busy, err := net.Listen("tcp", "127.0.64.21:0")
			if err != nil {
				t.Fatal(err)
			}
			defer busy.Close()
			cfg := mediation.DefaultConfig()
			cfg.Edge.Listen, cfg.GatewayListen, cfg.HTTPListen, cfg.Admin.Listen = "127.0.64.21:0", "127.0.64.21:0", "127.0.64.21:0", "127.0.64.21:0"
			switch busyListener {
			case "edge.listen": // SIP binds UDP and TCP on the port
				cfg.Edge.Listen = busy.Addr().String()
			case "admin.listen":
				cfg.Admin.Listen = busy.Addr().String()
			}
			cfg.Records.Path = filepath.Join(t.TempDir(), "calls.jsonl")
			s, err := mediation.NewServer(cfg, zerolog.Nop())
			if err != nil {
				t.Fatal(err)
			}
			var le *mediation.ListenError
			if err := s.Run(testCtx(t, 10*time.Second)); !errors.As(err, &le) || le.Listener != busyListener {
				t.Fatalf("Run: %v, want the ListenError of %s (port in use)", err, busyListener)
			}
			if _, err := os.Stat(cfg.Records.Path); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a start that failed to bind left a records file (stat: %v)", err)
			}
		})
	}
}

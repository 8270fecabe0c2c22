//go:build linux

package relay

// This file measures the relay's I/O model in isolation (issue 11, "the
// ceiling, and where it comes from"): N G.711 streams relayed from one
// loopback socket to another, with nothing but the socket I/O in between,
// under three models:
//
//   - goroutine: one goroutine per socket, one ReadFrom and one WriteTo per
//     packet (what Session.readRTP does today);
//   - goroutine-batch: the same goroutines reading with ipv4.PacketConn
//     ReadBatch (recvmmsg, up to ioBatch datagrams) and writing what they
//     got with WriteBatch (sendmmsg);
//   - epoll: GOMAXPROCS workers, each with its own epoll set over its calls'
//     sockets (raw non-blocking descriptors, outside Go's netpoller), that
//     drain every ready socket with recvmmsg and relay with sendmmsg.
//
// Each call has its own port pair, as the SDP requires, so a datagram can
// only be batched with others of the same 50 packets/s stream: a batch per
// socket holds one packet unless the relay has fallen behind. The epoll
// model is the fair "few workers" comparison: it is the only way to serve
// many sockets from a few goroutines in Go (the netpoller wakes one
// goroutine per socket), and it takes the per-packet goroutine park/unpark
// and the extra EAGAIN read out of the path.
//
// The relay runs in a child process (this test binary re-executed) so that
// its CPU (getrusage) and syscalls (perf, when installed) are its own, not
// the load generator's. The generator spreads each stream's packets evenly
// over the 20 ms period, as real calls are, and says so when it cannot keep
// up, rather than report relay loss.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"
)

var (
	ioWindow  = flag.Duration("iomodel.window", 3*time.Second, "BenchmarkRelayIOModel: measurement window per run")
	ioStreams = flag.String("iomodel.streams", "500,2000", "BenchmarkRelayIOModel: stream counts, comma-separated")
	ioModels  = flag.String("iomodel.models", "goroutine,goroutine-batch,epoll", "BenchmarkRelayIOModel: models, comma-separated")
)

const (
	ioChildEnv   = "MEDIATION_IOMODEL_CHILD" // model,streams,sink1;sink2...
	ioPacketLen  = 172                       // 12-byte RTP header + 160 bytes of G.711
	ioPtime      = 20 * time.Millisecond
	ioBatch      = 8 // datagrams per recvmmsg/sendmmsg
	ioWarmUp     = time.Second
	ioSinks      = 2
	ioGenerators = 2
	ioSockBuf    = 4 << 20
)

// BenchmarkRelayIOModel relays N streams of 50 packets/s (172-byte RTP) for
// -iomodel.window under each I/O model and reports, per relayed packet, the
// relay process's CPU (cpu-ns/packet, user+system from getrusage) and its
// syscalls (syscalls/packet, all of them, counted by `perf stat` on the
// child; absent without perf), the relayed rate and the loss. Each run
// takes about window+2 s whatever b.N is; ns/op is that wall time.
func BenchmarkRelayIOModel(b *testing.B) {
	for _, model := range strings.Split(*ioModels, ",") {
		for _, s := range strings.Split(*ioStreams, ",") {
			n, err := strconv.Atoi(s)
			if err != nil || n < 2 || n%2 != 0 {
				b.Fatalf("-iomodel.streams: %q is not an even count >= 2", s)
			}
			b.Run(fmt.Sprintf("model=%s/streams=%d", model, n), func(b *testing.B) {
				for b.Loop() {
					runIOModel(b, model, n)
				}
			})
		}
	}
}

// ioResult is what one run measured.
type ioResult struct {
	relayed, cpuNs, sysNs int64 // in the child, during the window
	window                time.Duration
	sent, received        int64 // by the generator and the sinks, whole run
	target                float64
	genPPS                float64 // achieved by the generator during the window
	skipped               int64   // packets the generator was too late to send, during the window
	genCores              float64 // this process's CPU (generator and sinks) during the window
	syscalls              map[string]float64
	// relayDrops and sinkDrops are the datagrams the kernel dropped on the
	// relay's sockets and on the sinks, whole run.
	relayDrops, sinkDrops int64
}

func runIOModel(b *testing.B, model string, streams int) {
	ctx, cancel := context.WithTimeout(context.Background(), *ioWindow+60*time.Second)
	defer cancel()

	sinks, sinkAddrs := make([]*net.UDPConn, ioSinks), make([]string, ioSinks)
	var received atomic.Int64
	var wg sync.WaitGroup
	defer wg.Wait()
	for i := range sinks {
		c := listenLoopback(b)
		_ = c.SetReadBuffer(ioSockBuf)
		sinks[i], sinkAddrs[i] = c, c.LocalAddr().String()
		defer c.Close()
		wg.Add(1)
		go func() { defer wg.Done(); drainSink(c, &received) }()
	}

	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestRelayIOModelChild$", "-test.timeout=5m")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s,%d,%s", ioChildEnv, model, streams, strings.Join(sinkAddrs, ";")))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = stdin.Close(); _ = cmd.Wait() }()
	lines := make(chan string, 16)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<16), 1<<20)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	next := func(prefix string) string {
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					b.Fatalf("relay child ended before %q", prefix)
				}
				if rest, found := strings.CutPrefix(l, prefix); found {
					return rest
				}
			case <-ctx.Done():
				b.Fatalf("relay child: no %q before the deadline", prefix)
			}
		}
	}
	addrs := strings.Split(next("addrs "), " ")
	if len(addrs) != streams {
		b.Fatalf("relay child gave %d addresses, want %d", len(addrs), streams)
	}
	dsts := make([]netip.AddrPort, streams)
	for i, a := range addrs {
		if dsts[i], err = netip.ParseAddrPort(a); err != nil {
			b.Fatal(err)
		}
	}

	gen := newIOGenerator(b, dsts)
	genCtx, stopGen := context.WithCancel(ctx)
	genDone := make(chan struct{})
	defer func() { stopGen(); <-genDone }()
	go func() { defer close(genDone); gen.run(genCtx) }()

	waitUntil(ctx, b, time.Now().Add(ioWarmUp))
	perf := startPerf(ctx, cmd.Process.Pid)
	fmt.Fprintln(stdin, "start")
	next("started")
	sent0, skipped0, start, ownCPU0 := gen.sent.Load(), gen.skipped.Load(), time.Now(), processCPU(b)
	waitUntil(ctx, b, start.Add(*ioWindow))
	fmt.Fprintln(stdin, "stop")
	fields := strings.Fields(next("result "))
	window := time.Since(start)
	sentWindow, skippedWindow, genCPU := gen.sent.Load()-sent0, gen.skipped.Load()-skipped0, processCPU(b)-ownCPU0
	syscalls := perf.stop()
	stopGen()
	<-genDone

	r := ioResult{
		window:   window,
		target:   float64(streams) * float64(time.Second/ioPtime),
		genPPS:   float64(sentWindow) / window.Seconds(),
		skipped:  skippedWindow,
		genCores: float64(genCPU) / float64(window),
		syscalls: syscalls,
	}
	if len(fields) != 3 {
		b.Fatalf("relay child result %q", fields)
	}
	r.relayed, _ = strconv.ParseInt(fields[0], 10, 64)
	r.cpuNs, _ = strconv.ParseInt(fields[1], 10, 64)
	r.sysNs, _ = strconv.ParseInt(fields[2], 10, 64)
	// Every packet sent has arrived or is lost once the sinks stay quiet.
	r.sent = gen.sent.Load()
	for last := int64(-1); received.Load() != last; {
		last = received.Load()
		waitUntil(ctx, b, time.Now().Add(200*time.Millisecond))
	}
	r.received = received.Load()
	// Where the lost packets went: the kernel counts each socket's drops
	// (receive buffer full). The child's sockets are still open.
	relayPorts, sinkPorts := map[uint16]bool{}, map[uint16]bool{}
	for _, d := range dsts {
		relayPorts[d.Port()] = true
	}
	for _, c := range sinks {
		sinkPorts[localAddr(c).Port()] = true
	}
	r.relayDrops, r.sinkDrops = udpDrops(b, relayPorts), udpDrops(b, sinkPorts)
	for _, c := range sinks {
		_ = c.SetReadDeadline(time.Unix(1, 0))
	}
	r.report(b)
}

func (r ioResult) report(b *testing.B) {
	if r.relayed == 0 {
		b.Fatal("nothing relayed")
	}
	b.ReportMetric(float64(r.cpuNs)/float64(r.relayed), "cpu-ns/packet")
	b.ReportMetric(float64(r.cpuNs)/float64(r.window), "relay-cores")
	b.ReportMetric(100*float64(r.sysNs)/float64(r.cpuNs), "relay-sys-%")
	b.ReportMetric(float64(r.relayed)/r.window.Seconds(), "relayed-pkt/s")
	b.ReportMetric(100*float64(r.sent-r.received)/float64(r.sent), "loss-%")
	b.ReportMetric(r.genCores, "gen-cores")
	if r.sent > r.received {
		b.Logf("lost %d of %d: %d dropped on the relay's sockets, %d on the sinks", r.sent-r.received, r.sent, r.relayDrops, r.sinkDrops)
	}
	if total, ok := r.syscalls["raw_syscalls:sys_enter"]; ok {
		perPacket := func(v float64) float64 { return v / (float64(r.relayed) / r.window.Seconds()) }
		b.ReportMetric(perPacket(total), "syscalls/packet")
		var detail []string
		for _, k := range []string{"recvfrom", "sendto", "recvmmsg", "sendmmsg", "epoll_pwait", "futex", "nanosleep"} {
			if v := r.syscalls["syscalls:sys_enter_"+k]; v > 0 {
				detail = append(detail, fmt.Sprintf("%s %.2f", k, perPacket(v)))
			}
		}
		b.Logf("syscalls per packet: %s", strings.Join(detail, ", "))
	} else {
		b.Log("syscalls not counted: perf is missing or could not trace the relay process")
	}
	if r.genPPS < 0.98*r.target || r.skipped > 0 {
		b.Logf("generator fell behind: %.0f packets/s sent of %.0f (%d skipped); the shortfall is the generator's, not the relay's", r.genPPS, r.target, r.skipped)
	}
}

// udpDrops sums the drops counter of /proc/net/udp over the IPv4 sockets
// bound to ports (all of them on 127.0.0.1 here).
func udpDrops(tb testing.TB, ports map[uint16]bool) int64 {
	data, err := os.ReadFile("/proc/net/udp")
	if err != nil {
		tb.Logf("socket drops unknown: %v", err)
		return 0
	}
	var drops int64
	for _, l := range strings.Split(string(data), "\n")[1:] {
		f := strings.Fields(l)
		if len(f) < 13 {
			continue
		}
		_, port, ok := strings.Cut(f[1], ":")
		p, err := strconv.ParseUint(port, 16, 16)
		if !ok || err != nil || !ports[uint16(p)] {
			continue
		}
		if d, err := strconv.ParseInt(f[12], 10, 64); err == nil {
			drops += d
		}
	}
	return drops
}

func waitUntil(ctx context.Context, b *testing.B, t time.Time) {
	select {
	case <-time.After(time.Until(t)):
	case <-ctx.Done():
		b.Fatal("benchmark deadline passed")
	}
}

// drainSink counts the datagrams arriving on c until it is closed or its
// deadline passes.
func drainSink(c *net.UDPConn, n *atomic.Int64) {
	pc := ipv4.NewPacketConn(c)
	msgs := newMessages(64)
	for {
		k, err := pc.ReadBatch(msgs, 0)
		if err != nil {
			return
		}
		n.Add(int64(k))
	}
}

func newMessages(n int) []ipv4.Message {
	ms := make([]ipv4.Message, n)
	for i := range ms {
		ms[i].Buffers = [][]byte{make([]byte, maxPacket)}
	}
	return ms
}

// ioGenerator plays the streams: stream i sends to dsts[i] every 20 ms,
// phased so that the packets of all streams are spread evenly over the
// period. ioGenerators goroutines share the streams, each with its own
// socket and sendmmsg batches.
type ioGenerator struct {
	dsts  []netip.AddrPort
	conns []*ipv4.PacketConn
	sent  atomic.Int64
	// skipped counts packets more than ioMaxLag late, never sent: a
	// generator that falls behind must not catch up in bursts that no real
	// caller sends (and that would favour batching).
	skipped atomic.Int64
}

// ioMaxLag is how late a packet may be sent: less than a period, so a
// stream never has two packets queued because of the generator.
const ioMaxLag = ioPtime / 2

func newIOGenerator(tb testing.TB, dsts []netip.AddrPort) *ioGenerator {
	g := &ioGenerator{dsts: dsts}
	for range ioGenerators {
		c := listenLoopback(tb)
		_ = c.SetWriteBuffer(ioSockBuf)
		g.conns = append(g.conns, ipv4.NewPacketConn(c))
	}
	return g
}

func (g *ioGenerator) run(ctx context.Context) {
	var wg sync.WaitGroup
	for w, c := range g.conns {
		wg.Add(1)
		go func() { defer wg.Done(); g.play(ctx, c, w) }()
	}
	wg.Wait()
}

// play sends the packets of streams w, w+ioGenerators, ... as they fall due,
// checking every millisecond.
func (g *ioGenerator) play(ctx context.Context, c *ipv4.PacketConn, w int) {
	var mine []*net.UDPAddr
	for i := w; i < len(g.dsts); i += ioGenerators {
		mine = append(mine, net.UDPAddrFromAddrPort(g.dsts[i]))
	}
	msgs := newMessages(64)
	for i := range msgs {
		msgs[i].Buffers[0] = msgs[i].Buffers[0][:ioPacketLen]
		msgs[i].Buffers[0][0] = 0x80 // RTP version 2, PCMU
	}
	perPacket := ioPtime / time.Duration(len(mine))
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	var done int64
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		elapsed := time.Since(start)
		due := int64(elapsed / perPacket)
		if late := int64((elapsed - ioMaxLag) / perPacket); done < late {
			g.skipped.Add(late - done)
			done = late
		}
		for done < due {
			k := 0
			for ; k < len(msgs) && done < due; k++ {
				m := &msgs[k]
				m.Addr = mine[done%int64(len(mine))]
				binary.BigEndian.PutUint16(m.Buffers[0][2:], uint16(done/int64(len(mine))))
				done++
			}
			for sent := 0; sent < k; {
				n, err := c.WriteBatch(msgs[sent:k], 0)
				if err != nil {
					return // closed
				}
				sent += n
				g.sent.Add(int64(n))
			}
		}
	}
}

// perfCounter counts the child's syscalls with `perf stat` while it runs.
type perfCounter struct {
	cmd *exec.Cmd
	out bytes.Buffer
}

var perfEvents = []string{"raw_syscalls:sys_enter", "syscalls:sys_enter_recvfrom", "syscalls:sys_enter_sendto",
	"syscalls:sys_enter_recvmmsg", "syscalls:sys_enter_sendmmsg", "syscalls:sys_enter_epoll_pwait",
	"syscalls:sys_enter_futex", "syscalls:sys_enter_nanosleep"}

// startPerf starts counting, in 100 ms intervals; nil (no syscall
// figures) without perf.
func startPerf(ctx context.Context, pid int) *perfCounter {
	path, err := exec.LookPath("perf")
	if err != nil {
		return nil
	}
	p := &perfCounter{}
	p.cmd = exec.CommandContext(ctx, path, "stat", "-I", "100", "-x,", "-e", strings.Join(perfEvents, ","), "-p", strconv.Itoa(pid))
	p.cmd.Stderr = &p.out
	if p.cmd.Start() != nil {
		return nil
	}
	return p
}

// stop ends the count and returns each event's rate per second over the
// whole intervals counted, leaving out the first (perf attaching) and the
// last (cut short by the stop).
func (p *perfCounter) stop() map[string]float64 {
	if p == nil {
		return nil
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	_ = p.cmd.Wait()
	type sample struct {
		at    float64
		event string
		count float64
	}
	var samples []sample
	var stamps []float64
	for _, l := range strings.Split(p.out.String(), "\n") {
		f := strings.Split(strings.TrimSpace(l), ",")
		if len(f) < 4 || !strings.Contains(f[3], "syscalls:") {
			continue
		}
		at, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		count, _ := strconv.ParseFloat(f[1], 64) // "<not counted>" is 0
		samples = append(samples, sample{at, f[3], count})
		if len(stamps) == 0 || stamps[len(stamps)-1] != at {
			stamps = append(stamps, at)
		}
	}
	if len(stamps) < 3 {
		return nil
	}
	from, to := stamps[0], stamps[len(stamps)-2]
	rates := map[string]float64{}
	for _, s := range samples {
		if s.at > from && s.at <= to {
			rates[s.event] += s.count / (to - from)
		}
	}
	return rates
}

// TestRelayIOModelChild is the relay process of BenchmarkRelayIOModel; it
// does nothing unless started by it.
func TestRelayIOModelChild(t *testing.T) {
	spec := os.Getenv(ioChildEnv)
	if spec == "" {
		t.Skip("run by BenchmarkRelayIOModel only")
	}
	parts := strings.SplitN(spec, ",", 3)
	if len(parts) != 3 {
		t.Fatalf("%s=%q", ioChildEnv, spec)
	}
	streams, err := strconv.Atoi(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var sinks []netip.AddrPort
	for _, s := range strings.Split(parts[2], ";") {
		a, err := netip.ParseAddrPort(s)
		if err != nil {
			t.Fatal(err)
		}
		sinks = append(sinks, a)
	}
	var m ioModel
	switch parts[0] {
	case "goroutine":
		m = &goroutineModel{}
	case "goroutine-batch":
		m = &goroutineModel{batch: true}
	case "epoll":
		m = &epollModel{workers: runtime.GOMAXPROCS(0)}
	default:
		t.Fatalf("unknown model %q", parts[0])
	}
	addrs, err := m.open(streams, sinks)
	if err != nil {
		t.Fatal(err)
	}
	m.start()
	defer func() {
		if err := m.close(); err != nil {
			t.Error(err)
		}
	}()
	fmt.Printf("addrs %s\n", strings.Join(addrs, " "))
	in := bufio.NewScanner(os.Stdin)
	var relayed0, cpu0, sys0 int64
	for in.Scan() {
		switch in.Text() {
		case "start":
			relayed0 = m.relayed()
			cpu0, sys0 = processCPUSplit(t)
			fmt.Println("started")
		case "stop":
			cpu, sys := processCPUSplit(t)
			fmt.Printf("result %d %d %d\n", m.relayed()-relayed0, cpu-cpu0, sys-sys0)
		}
	}
}

// processCPU is this process's user+system CPU so far, in ns.
func processCPU(t testing.TB) int64 {
	cpu, _ := processCPUSplit(t)
	return cpu
}

// processCPUSplit is this process's CPU so far, in ns: user+system, and
// system alone.
func processCPUSplit(t testing.TB) (cpu, sys int64) {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano(), ru.Stime.Nano()
}

// ioModel relays datagrams arriving on socket i out of socket i^1 (the
// other socket of the call) to a sink.
type ioModel interface {
	open(streams int, sinks []netip.AddrPort) (addrs []string, err error)
	start()
	relayed() int64
	close() error
}

// goroutineModel is one goroutine per socket, as Session.readRTP.
type goroutineModel struct {
	batch bool
	conns []*net.UDPConn
	dsts  []netip.AddrPort
	count atomic.Int64
	wg    sync.WaitGroup
}

func (m *goroutineModel) open(streams int, sinks []netip.AddrPort) ([]string, error) {
	var addrs []string
	for i := range streams {
		c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, 0)))
		if err != nil {
			return nil, errors.Join(err, m.close())
		}
		m.conns = append(m.conns, c)
		m.dsts = append(m.dsts, sinks[i%len(sinks)])
		addrs = append(addrs, c.LocalAddr().String())
	}
	return addrs, nil
}

func (m *goroutineModel) start() {
	for i := range m.conns {
		m.wg.Add(1)
		if m.batch {
			go m.relayBatch(i)
		} else {
			go m.relay(i)
		}
	}
}

func (m *goroutineModel) relay(i int) {
	defer m.wg.Done()
	in, out, dst := m.conns[i], m.conns[i^1], m.dsts[i]
	buf := make([]byte, maxPacket)
	for {
		n, _, err := in.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		if _, err := out.WriteToUDPAddrPort(buf[:n], dst); err == nil {
			m.count.Add(1)
		}
	}
}

func (m *goroutineModel) relayBatch(i int) {
	defer m.wg.Done()
	in, out := ipv4.NewPacketConn(m.conns[i]), ipv4.NewPacketConn(m.conns[i^1])
	dst := net.UDPAddrFromAddrPort(m.dsts[i])
	msgs := newMessages(ioBatch)
	for {
		n, err := in.ReadBatch(msgs, 0)
		if err != nil {
			return
		}
		for k := range msgs[:n] {
			msgs[k].Buffers[0] = msgs[k].Buffers[0][:msgs[k].N]
			msgs[k].Addr = dst
		}
		if w, err := out.WriteBatch(msgs[:n], 0); err == nil {
			m.count.Add(int64(w))
		}
		for k := range msgs[:n] {
			msgs[k].Buffers[0] = msgs[k].Buffers[0][:maxPacket]
		}
	}
}

func (m *goroutineModel) relayed() int64 { return m.count.Load() }

func (m *goroutineModel) close() error {
	var errs []error
	for _, c := range m.conns {
		errs = append(errs, c.Close())
	}
	m.wg.Wait()
	return errors.Join(errs...)
}

// mmsghdr is struct mmsghdr of recvmmsg(2) and sendmmsg(2).
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
	_   [4]byte
}

// epollBatch is one worker's receive batch: ioBatch datagrams with their
// buffers, reused for every socket.
type epollBatch struct {
	msgs [ioBatch]mmsghdr
	iovs [ioBatch]unix.Iovec
	bufs [ioBatch][maxPacket]byte
}

// epollModel is a few workers, each with its own epoll set over whole calls
// (both sockets of a call in the same worker, so a call's packets keep one
// owner and their order).
type epollModel struct {
	workers int
	fds     []int
	dsts    []unix.RawSockaddrInet4
	epfds   []int
	stop    atomic.Bool
	count   atomic.Int64
	wg      sync.WaitGroup
}

func (m *epollModel) open(streams int, sinks []netip.AddrPort) ([]string, error) {
	var addrs []string
	for i := range streams {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return nil, errors.Join(err, m.close())
		}
		m.fds = append(m.fds, fd)
		if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
			return nil, errors.Join(err, m.close())
		}
		sa, err := unix.Getsockname(fd)
		if err != nil {
			return nil, errors.Join(err, m.close())
		}
		addrs = append(addrs, fmt.Sprintf("127.0.0.1:%d", sa.(*unix.SockaddrInet4).Port))
		sink := sinks[i%len(sinks)]
		d := unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: sink.Addr().As4()}
		binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&d.Port))[:], sink.Port())
		m.dsts = append(m.dsts, d)
	}
	for w := range m.workers {
		ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
		if err != nil {
			return nil, errors.Join(err, m.close())
		}
		m.epfds = append(m.epfds, ep)
		for i := 2 * w; i < streams; i += 2 * m.workers {
			for j, fd := range m.fds[i : i+2] {
				// The event's data carries the descriptor and the socket's number.
				ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd), Pad: int32(i + j)}
				if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
					return nil, errors.Join(err, m.close())
				}
			}
		}
	}
	return addrs, nil
}

func (m *epollModel) start() {
	for _, ep := range m.epfds {
		m.wg.Add(1)
		go m.work(ep)
	}
}

func (m *epollModel) work(ep int) {
	defer m.wg.Done()
	b := &epollBatch{}
	for k := range b.msgs {
		b.iovs[k].Base = &b.bufs[k][0]
		b.msgs[k].hdr.Iov = &b.iovs[k]
		b.msgs[k].hdr.Iovlen = 1
	}
	events := make([]unix.EpollEvent, 256)
	for !m.stop.Load() {
		n, err := unix.EpollWait(ep, events, 50)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return
		}
		for _, ev := range events[:n] {
			i := int(ev.Pad)
			got := m.receive(int(ev.Fd), b)
			if got > 0 {
				m.send(m.fds[i^1], &m.dsts[i], b, got)
			}
		}
	}
}

// receive drains up to ioBatch datagrams from fd into b.
func (m *epollModel) receive(fd int, b *epollBatch) int {
	for k := range b.msgs {
		b.iovs[k].SetLen(maxPacket)
		b.msgs[k].hdr.Name, b.msgs[k].hdr.Namelen = nil, 0
	}
	n, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(fd), uintptr(unsafe.Pointer(&b.msgs[0])), ioBatch, unix.MSG_DONTWAIT, 0, 0)
	if errno != 0 {
		return 0
	}
	return int(n)
}

// send relays the n datagrams of b from fd to dst with one sendmmsg.
func (m *epollModel) send(fd int, dst *unix.RawSockaddrInet4, b *epollBatch, n int) {
	for k := range b.msgs[:n] {
		b.iovs[k].SetLen(int(b.msgs[k].len))
		b.msgs[k].hdr.Name = (*byte)(unsafe.Pointer(dst))
		b.msgs[k].hdr.Namelen = unix.SizeofSockaddrInet4
	}
	w, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&b.msgs[0])), uintptr(n), 0, 0, 0)
	if errno == 0 {
		m.count.Add(int64(w))
	}
}

func (m *epollModel) relayed() int64 { return m.count.Load() }

func (m *epollModel) close() error {
	m.stop.Store(true)
	m.wg.Wait() // each worker sees the flag within one epoll timeout
	var errs []error
	for _, fd := range append(m.epfds, m.fds...) {
		errs = append(errs, unix.Close(fd))
	}
	m.epfds, m.fds = nil, nil
	return errors.Join(errs...)
}

// Package tools runs the external programs some tests rely on: tshark to
// capture and read SIP, RTP and HEP on loopback, and headless Chromium for
// the web page. It is kept apart from mediationtest so that the daemon,
// which links mediationtest for its lab commands, links neither testing
// nor chromedp.
package tools

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Tshark finds Wireshark's tshark: CI installs it (Debian package tshark),
// so only a developer may go without, and then the test is skipped.
func Tshark(t testing.TB) string {
	t.Helper()
	return Binary(t, "tshark", "tshark")
}

// Binary finds an external program that CI installs (Debian package pkg):
// a developer without it skips the test, CI (env CI set) fails it.
func Binary(t testing.TB, name, pkg string) string {
	t.Helper()
	bin, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "" {
			t.Skipf("%s not on PATH (apt-get install %s)", name, pkg)
		}
		t.Fatalf("%s not on PATH in CI: %v", name, err)
	}
	return bin
}

// TsharkFields reads a capture file with tshark and returns, per packet
// that passes the display filter, the fields asked for (tshark -T fields).
func TsharkFields(t testing.TB, ctx context.Context, file, filter string, fields ...string) [][]string {
	t.Helper()
	return TsharkFieldsWith(t, ctx, nil, file, filter, fields...)
}

// TsharkFieldsWith is TsharkFields with more tshark options first (a Lua
// dissector: "-X", "lua_script:FILE").
func TsharkFieldsWith(t testing.TB, ctx context.Context, opts []string, file, filter string, fields ...string) [][]string {
	t.Helper()
	args := append(append([]string{}, opts...), "-n", "-r", file, "-Y", filter, "-T", "fields", "-E", "separator=\t", "-E", "occurrence=f")
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, Tshark(t), args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark -r %s -Y %q: %v\n%s", file, filter, err, stderr.String())
	}
	var rows [][]string
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if sc.Text() != "" {
			rows = append(rows, strings.Split(sc.Text(), "\t"))
		}
	}
	return rows
}

// Capture is a tshark capture on the loopback interface.
type Capture struct {
	// File is the pcapng file tshark writes.
	File string
	cmd  *exec.Cmd
	done chan error
	stop sync.Once
}

// StartCapture captures the loopback packets that pass a BPF filter ("udp
// port 5060") into a file in the test's temp dir, and returns once tshark
// has captured a probe datagram (tshark says it is capturing a little
// before it is). Capturing needs root or CAP_NET_RAW; without it the test
// is skipped (or fails in CI).
func StartCapture(t testing.TB, ctx context.Context, bpf string) *Capture {
	t.Helper()
	bin := Tshark(t)
	probe, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()
	probePort := probe.LocalAddr().(*net.UDPAddr).Port
	c := &Capture{File: filepath.Join(t.TempDir(), "capture.pcapng"), done: make(chan error, 1)}
	c.cmd = exec.Command(bin, "-n", "-i", "lo", "-f", fmt.Sprintf("(%s) or (udp port %d)", bpf, probePort), "-w", c.File)
	stderr, err := c.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("start tshark: %v", err)
	}
	ready := make(chan string, 2)
	go func() {
		var seen strings.Builder
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			seen.WriteString(sc.Text() + "\n")
			if strings.HasPrefix(sc.Text(), "Capturing on") {
				ready <- ""
			}
		}
		ready <- seen.String()
		c.done <- c.cmd.Wait()
	}()
	t.Cleanup(func() { c.Stop(t) })
	select {
	case msg := <-ready:
		if msg != "" {
			if os.Getenv("CI") == "" && strings.Contains(msg, "ermission") {
				t.Skipf("tshark cannot capture on lo: %s", msg)
			}
			t.Fatalf("tshark did not start capturing: %s", msg)
		}
	case <-ctx.Done():
		t.Fatal("tshark not capturing before the test's deadline")
	}
	for wait := 10 * time.Millisecond; ; wait = min(2*wait, 200*time.Millisecond) {
		if _, err := probe.WriteTo([]byte("probe"), probe.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(c.File); err == nil &&
			len(TsharkFields(t, ctx, c.File, fmt.Sprintf("udp.port == %d", probePort), "frame.number")) > 0 {
			return c
		}
		select {
		case <-ctx.Done():
			t.Fatal("tshark captured no probe before the test's deadline")
		case <-time.After(wait):
		}
	}
}

// Stop ends the capture; the file stays. Idempotent.
func (c *Capture) Stop(t testing.TB) {
	c.stop.Do(func() {
		_ = c.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-c.done:
		case <-time.After(10 * time.Second):
			_ = c.cmd.Process.Kill()
			<-c.done
			t.Errorf("tshark did not stop on SIGINT; killed")
		}
	})
}

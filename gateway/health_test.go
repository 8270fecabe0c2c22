package gateway

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// flakyPinger answers the probes of the trunks named in ok, and counts
// the probes of each trunk.
type flakyPinger struct {
	mu    sync.Mutex
	dead  map[string]bool
	count map[string]int
}

func (p *flakyPinger) Ping(ctx context.Context, tr Trunk) error {
	p.mu.Lock()
	p.count[tr.Name]++
	dead := p.dead[tr.Name]
	p.mu.Unlock()
	if dead {
		<-ctx.Done() // no reply: the probe times out
		return errors.New("no reply")
	}
	return nil
}

func (p *flakyPinger) set(name string, dead bool) {
	p.mu.Lock()
	p.dead[name] = dead
	p.mu.Unlock()
}

func (p *flakyPinger) probes(name string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.count[name]
}

func TestHealthDownAndUp(t *testing.T) {
	tab, err := NewTable([]Trunk{trunk("a", 5060, 0), trunk("b", 5061, 0)})
	if err != nil {
		t.Fatal(err)
	}
	p := &flakyPinger{dead: map[string]bool{"a": true}, count: map[string]int{}}
	changes := make(chan string, 10)
	var ups atomic.Int32
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan struct{})
	cfg := HealthConfig{Interval: 5 * time.Millisecond, DownInterval: 20 * time.Millisecond, MaxFails: 5, Timeout: 5 * time.Millisecond}
	go func() {
		defer close(done)
		tab.Check(ctx, p, cfg, zerolog.Nop(), func(tr Trunk, up bool) {
			if up {
				ups.Add(1)
				changes <- tr.Name + " up"
			} else {
				changes <- tr.Name + " down"
			}
		})
	}()
	wait := func(want string) {
		t.Helper()
		select {
		case got := <-changes:
			if got != want {
				t.Fatalf("change %q, want %q", got, want)
			}
		case <-ctx.Done():
			t.Fatalf("no change %q", want)
		}
	}
	wait("a down")
	if n := p.probes("a"); n < 5 {
		t.Fatalf("a went down after %d probes, want 5", n)
	}
	if tab.Healthy("a") || !tab.Healthy("b") {
		t.Fatalf("Healthy(a) = %v, Healthy(b) = %v", tab.Healthy("a"), tab.Healthy("b"))
	}
	for range 4 {
		if got, _ := tab.Route("+1"); !reflect.DeepEqual(names(got), []string{"b"}) {
			t.Fatalf("Route = %v while a is down, want [b]", names(got))
		}
	}
	if st := tab.Status(); st[0].Healthy || !st[1].Healthy {
		t.Fatalf("Status = %+v", st)
	}
	p.set("a", false)
	wait("a up")
	if got, _ := tab.Route("+1"); len(got) != 2 {
		t.Fatalf("Route = %v once a is back, want both", names(got))
	}
	cancel()
	<-done
	if ups.Load() != 1 {
		t.Fatalf("%d up changes, want 1 (b never went down)", ups.Load())
	}
}

// TestHealthDownInterval: a trunk that is down is probed at DownInterval,
// not Interval.
func TestHealthDownInterval(t *testing.T) {
	tab, err := NewTable([]Trunk{trunk("a", 5060, 0)})
	if err != nil {
		t.Fatal(err)
	}
	p := &flakyPinger{dead: map[string]bool{"a": true}, count: map[string]int{}}
	down := make(chan struct{}, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := HealthConfig{Interval: time.Millisecond, DownInterval: time.Hour, MaxFails: 2, Timeout: time.Millisecond}
	done := make(chan struct{})
	go func() {
		defer close(done)
		tab.Check(ctx, p, cfg, zerolog.Nop(), func(Trunk, bool) { down <- struct{}{} })
	}()
	select {
	case <-down:
	case <-ctx.Done():
		t.Fatal("never down")
	}
	n := p.probes("a")
	// Had the interval stayed 1 ms, dozens of probes would follow; a
	// probe already running when the state changed may still finish.
	// Something not happening can only be watched for a while.
	time.Sleep(100 * time.Millisecond)
	if got := p.probes("a"); got > n+1 {
		t.Fatalf("%d probes after going down, want none until DownInterval", got-n)
	}
	cancel()
	<-done
}

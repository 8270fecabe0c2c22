package mediation

import (
	"testing"
	"time"

	"go.uber.org/goleak"
)

// drainFunc runs a function as a drainer.
type drainFunc func()

func (f drainFunc) run() { f() }

// waitWorkers polls cond until it holds or the deadline passes.
func waitWorkers(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestWorkersReuseIdleWorker(t *testing.T) {
	defer goleak.VerifyNone(t)
	w := newWorkers(time.Minute)
	defer w.close(10 * time.Second)
	for i := 0; i < 20; i++ {
		done := make(chan struct{})
		w.run(drainFunc(func() { close(done) }))
		<-done
		// waiting counts a worker a moment before it can take work: a drain
		// handed out in that moment starts another worker, which is fine.
		waitWorkers(t, "a worker to be idle", func() bool { return w.waiting.Load() >= 1 })
	}
	if n := w.started.Load(); n > 3 {
		t.Fatalf("20 drains one after another started %d workers, want them reused", n)
	}
}

// TestWorkersCloseBounded: close waits for a busy drain, but no longer than
// its timeout: one blocked on a dead peer must not hold up the server's
// exit. Once the drain ends, its worker is gone.
func TestWorkersCloseBounded(t *testing.T) {
	defer goleak.VerifyNone(t)
	w := newWorkers(time.Hour)
	release, blocked := make(chan struct{}), make(chan struct{})
	w.run(drainFunc(func() { close(blocked); <-release }))
	<-blocked
	start := time.Now()
	w.close(50 * time.Millisecond)
	if took := time.Since(start); took < 50*time.Millisecond || took > 5*time.Second {
		t.Errorf("close took %v with a drain blocked, want its 50 ms timeout", took)
	}
	finished := make(chan struct{})
	go func() { w.wg.Wait(); close(finished) }()
	close(release)
	select {
	case <-finished:
	case <-time.After(10 * time.Second):
		t.Fatal("the worker did not end after its drain")
	}
}

func TestWorkersBlockedDrainDoesNotHoldOthers(t *testing.T) {
	defer goleak.VerifyNone(t)
	w := newWorkers(time.Minute)
	defer w.close(10 * time.Second)
	release := make(chan struct{})
	blocked := make(chan struct{})
	w.run(drainFunc(func() { close(blocked); <-release }))
	<-blocked
	done := make(chan struct{})
	w.run(drainFunc(func() { close(done) }))
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a drain waited for another, blocked one")
	}
	close(release)
	if n := w.started.Load(); n != 2 {
		t.Fatalf("started %d workers, want 2 (one blocked, one free)", n)
	}
}

func TestWorkersExitWhenIdleAndOnClose(t *testing.T) {
	defer goleak.VerifyNone(t)
	w := newWorkers(20 * time.Millisecond)
	done := make(chan struct{})
	w.run(drainFunc(func() { close(done) }))
	<-done
	// The idle worker exits by itself, before any close.
	waitWorkers(t, "the worker to be idle", func() bool { return w.waiting.Load() == 1 })
	waitWorkers(t, "the idle worker to exit", func() bool { return w.waiting.Load() == 0 })
	goleak.VerifyNone(t)
	long := newWorkers(time.Hour)
	done = make(chan struct{})
	long.run(drainFunc(func() { close(done) }))
	<-done
	waitWorkers(t, "the worker to be idle", func() bool { return long.waiting.Load() == 1 })
	long.close(10 * time.Second)
	// After close a drain still runs, on a goroutine that ends with it.
	ran := make(chan struct{})
	long.run(drainFunc(func() { close(ran) }))
	<-ran
	w.close(10 * time.Second)
}

package mediation

import (
	"testing"
	"time"

	"go.uber.org/goleak"
)

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
		w.run(func() { close(done) })
		<-done
		waitWorkers(t, "the worker to be idle", func() bool { return w.waiting.Load() == 1 })
	}
	if n := w.started.Load(); n != 1 {
		t.Fatalf("20 drains one after another started %d workers, want 1", n)
	}
}

func TestWorkersBlockedDrainDoesNotHoldOthers(t *testing.T) {
	defer goleak.VerifyNone(t)
	w := newWorkers(time.Minute)
	defer w.close(10 * time.Second)
	release := make(chan struct{})
	blocked := make(chan struct{})
	w.run(func() { close(blocked); <-release })
	<-blocked
	done := make(chan struct{})
	w.run(func() { close(done) })
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
	w.run(func() { close(done) })
	<-done
	// The idle worker exits by itself, before any close.
	waitWorkers(t, "the worker to be idle", func() bool { return w.waiting.Load() == 1 })
	waitWorkers(t, "the idle worker to exit", func() bool { return w.waiting.Load() == 0 })
	goleak.VerifyNone(t)
	long := newWorkers(time.Hour)
	done = make(chan struct{})
	long.run(func() { close(done) })
	<-done
	waitWorkers(t, "the worker to be idle", func() bool { return long.waiting.Load() == 1 })
	long.close(10 * time.Second)
	// After close a drain still runs, on a goroutine that ends with it.
	ran := make(chan struct{})
	long.run(func() { close(ran) })
	<-ran
	w.close(10 * time.Second)
}

package mediation

import (
	"testing"
	"time"
)

// TestQueryRacingEndReleased: a query queued as the call ends is
// released by the end's drain (not run), without waiting for its time
// limit, and one pushed after the end is refused at once; neither makes
// the call's done channel.
func TestQueryRacingEndReleased(t *testing.T) {
	c := &call{}
	res := make(chan bool, 1)
	ran := false
	go func() { res <- c.query(func() { ran = true }, time.Minute) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c.box.mu.Lock()
		n := len(c.box.events)
		c.box.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("query not queued")
		}
		time.Sleep(time.Millisecond)
	}
	// The call ends with the query still queued.
	c.drainClosed(nil)
	select {
	case ok := <-res:
		if ok || ran {
			t.Fatalf("query ran=%v returned %v, want neither", ran, ok)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("query racing the end not released")
	}
	start := time.Now()
	if c.query(func() {}, time.Minute) {
		t.Fatal("query after the end ran")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("query after the end took %v", d)
	}
	if c.done.ch != nil {
		t.Fatal("query made the done channel")
	}
}

package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/endpoint"
	"github.com/mediation-emulator/mediation/mediation/ladder"
	"github.com/mediation-emulator/mediation/mediation/logstream"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
)

// TestFollowerToken: against an admin API with a token, the follower
// without it stops at once with the reason; with it, it prints the calls
// that end, filtered by number.
func TestFollowerToken(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const token = "follow-s3cret"
	hub := logstream.New(logstream.Options{})
	lab := mediationtest.Start(t, mediationtest.Options{Log: hub.Logger(zerolog.Nop(), zerolog.InfoLevel), LogStream: hub,
		Configure: func(c *mediation.Config) { c.Admin.Token = token }})
	calls := make(chan *ladder.Call, 4)
	show := func(c *ladder.Call) error { calls <- c; return nil }

	var stderr syncBuffer
	err := newFollower(adminURL(lab), "wrong", ladder.Filter{}, show, &stderr).run(ctx)
	if err == nil || !strings.Contains(err.Error(), "401") || ctx.Err() != nil {
		t.Fatalf("follower with a wrong token: %v; want a 401 at once", err)
	}

	fctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- newFollower(adminURL(lab), token, ladder.Filter{Number: "+1555"}, show, &stderr).run(fctx)
	}()
	if err := poll(ctx, func() bool { return strings.Contains(stderr.String(), "following") }); err != nil {
		t.Fatalf("not following: %q", stderr.String())
	}
	client, err := lab.NewClient(ctx, mediationtest.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, to := range []string{"+442079460000", "+15550177"} { // the first is filtered out
		res, err := lab.CallOut(ctx, client, endpoint.CallOptions{To: to, Duration: 100 * time.Millisecond})
		if err != nil || !res.Answered() {
			t.Fatalf("call to %s: %v", to, err)
		}
	}
	select {
	case c := <-calls:
		if c.To != "+15550177" || !c.Ended || !c.Decided || len(c.Messages) < 8 {
			t.Errorf("printed %+v; want the second call, whole", c)
		}
	case <-ctx.Done():
		t.Fatalf("no call printed; stderr %q", stderr.String())
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("follower ended with %v", err)
	}
}

// TestFollowerPrintsWhenTheStreamEnds: a call that ended just before the
// server's stream closed (a shutdown) is printed then, while the server is
// still gone, not after a reconnection.
func TestFollowerPrintsWhenTheStreamEnds(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	log, err := os.ReadFile(filepath.Join("testdata", "trace", "id_matched.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var served atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if served.Add(1) > 1 {
			http.Error(w, "restarting", http.StatusServiceUnavailable) // the server is still down
			return
		}
		_, _ = w.Write(log) // the whole call, then the stream closes
	}))
	defer srv.Close()
	calls := make(chan *ladder.Call, 1)
	var stderr syncBuffer
	fctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		_ = newFollower(srv.URL, "", ladder.Filter{}, func(c *ladder.Call) error { calls <- c; return nil }, &stderr).run(fctx)
	}()
	select {
	case c := <-calls:
		if !c.Ended {
			t.Errorf("printed a call not ended: %+v", c)
		}
	case <-ctx.Done():
		t.Fatalf("the ended call was not printed while the server was down (stderr %q)", stderr.String())
	}
}

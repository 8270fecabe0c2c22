package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/mediation-emulator/mediation/mediation/ladder"
	"github.com/mediation-emulator/mediation/mediation/logstream"
)

// Timing of `mediation trace --follow`.
const (
	// followLinger is how long a call is held after its end is logged, for
	// the last messages (a retransmitted 200 to BYE) to join its ladder.
	followLinger = 500 * time.Millisecond
	// followIdle ends a connection that carried nothing for this long: the
	// server sends a heartbeat every logstream.DefaultHeartbeat.
	followIdle = 3 * logstream.DefaultHeartbeat
	// followCalls bounds the calls held while they are in progress; beyond
	// it the oldest is forgotten.
	followCalls    = 10000
	followRetryMin = 250 * time.Millisecond
	followRetryMax = 5 * time.Second
)

// follower is `mediation trace --follow`: it reads the admin API's live
// log and prints each call once it has ended, reconnecting when the server
// goes away.
type follower struct {
	url    string // .../log/stream[?call=]
	token  string
	filter ladder.Filter
	show   func(*ladder.Call) error
	stderr io.Writer
	client *http.Client

	b      *ladder.Builder
	seen   []string             // call ids held, oldest first
	held   map[string]bool      // seen's ids
	ending map[string]time.Time // ended call id -> when to print it
}

// errFatal marks an answer that retrying will not change (401, 404).
type errFatal struct{ error }

func newFollower(admin, token string, f ladder.Filter, show func(*ladder.Call) error, stderr io.Writer) *follower {
	u := strings.TrimSuffix(admin, "/") + "/log/stream"
	if f.Call != "" {
		u += "?call=" + url.QueryEscape(f.Call)
	}
	return &follower{url: u, token: token, filter: f, show: show, stderr: stderr,
		client: &http.Client{Transport: &http.Transport{ResponseHeaderTimeout: 10 * time.Second}},
		b:      ladder.NewBuilder(), held: map[string]bool{}, ending: map[string]time.Time{}}
}

// run follows until ctx ends (nil) or the server refuses for good.
func (f *follower) run(ctx context.Context) error {
	defer f.client.CloseIdleConnections()
	wait := followRetryMin
	for {
		connected, err := f.stream(ctx)
		if ctx.Err() != nil {
			return nil
		}
		var fatal errFatal
		if errors.As(err, &fatal) {
			return fatal.error
		}
		if connected {
			wait = followRetryMin
		}
		fmt.Fprintf(f.stderr, "mediation: trace: %s: %v; reconnecting in %s\n", f.url, err, wait)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		wait = min(2*wait, followRetryMax)
	}
}

// stream reads one connection until it fails; connected tells whether the
// server had accepted it.
func (f *follower) stream(ctx context.Context) (connected bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.url, nil)
	if err != nil {
		return false, errFatal{err}
	}
	if f.token != "" {
		req.Header.Set("Authorization", "Bearer "+f.token)
	}
	res, err := f.client.Do(req)
	if err != nil {
		return false, err
	}
	defer res.Body.Close()
	switch {
	case res.StatusCode == http.StatusOK:
	case res.StatusCode == http.StatusUnauthorized:
		return false, errFatal{fmt.Errorf("%s: 401: the admin API needs its token (--token or $MEDIATION_ADMIN_TOKEN)", f.url)}
	case res.StatusCode == http.StatusNotFound:
		return false, errFatal{fmt.Errorf("%s: 404: this server has no live log", f.url)}
	case res.StatusCode >= 500:
		return false, fmt.Errorf("%s", res.Status)
	default:
		return false, errFatal{fmt.Errorf("%s: %s", f.url, res.Status)}
	}
	fmt.Fprintf(f.stderr, "mediation: trace: following %s\n", f.url)

	lines := make(chan []byte)
	readErr := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(nil, 4<<20)
		for sc.Scan() {
			select {
			case lines <- append([]byte(nil), sc.Bytes()...):
			case <-ctx.Done():
				return
			}
		}
		err := sc.Err()
		if err == nil {
			err = io.EOF
		}
		readErr <- err
	}()
	idle := time.NewTimer(followIdle)
	defer idle.Stop()
	tick := time.NewTicker(followLinger / 2)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return true, ctx.Err()
		case err := <-readErr:
			// Every line was read (the reader sends its error last): the
			// calls that ended are printed now, not after a reconnection
			// that may never come (a server stopped with calls just ended
			// is what someone watching a restart wants to see).
			if ferr := f.flush(time.Now().Add(followLinger)); ferr != nil {
				return true, errFatal{ferr}
			}
			return true, fmt.Errorf("connection lost: %w", err)
		case <-idle.C:
			if ferr := f.flush(time.Now().Add(followLinger)); ferr != nil {
				return true, errFatal{ferr}
			}
			return true, fmt.Errorf("nothing received for %s", followIdle)
		case line := <-lines:
			idle.Reset(followIdle)
			if err := f.line(line); err != nil {
				return true, errFatal{err}
			}
		case <-tick.C:
			if err := f.flush(time.Now()); err != nil {
				return true, errFatal{err}
			}
		}
	}
}

// line takes one event of the stream.
func (f *follower) line(line []byte) error {
	c := f.b.Add(line)
	if c == nil {
		var ev struct {
			Message string `json:"message"`
			Dropped int    `json:"dropped_events"`
		}
		if json.Unmarshal(line, &ev) == nil && ev.Message == logstream.MsgDropped {
			fmt.Fprintf(f.stderr, "mediation: trace: the server dropped %d log events for this client (it read too slowly); ladders may miss messages\n", ev.Dropped)
		}
		return nil
	}
	if !f.held[c.ID] {
		f.held[c.ID] = true
		f.seen = append(f.seen, c.ID)
		if len(f.seen) > followCalls {
			f.forget(f.seen[0])
		}
	}
	if c.Ended {
		if _, ok := f.ending[c.ID]; !ok {
			f.ending[c.ID] = time.Now().Add(followLinger)
		}
	}
	return nil
}

// flush prints the calls whose linger is over.
func (f *follower) flush(now time.Time) error {
	for _, id := range append([]string(nil), f.seen...) {
		at, ok := f.ending[id]
		if !ok || now.Before(at) {
			continue
		}
		if c := f.forget(id); c != nil && f.filter.Match(c) {
			if err := f.show(c); err != nil {
				return err
			}
		}
	}
	return nil
}

// forget drops a call and returns what was built of it.
func (f *follower) forget(id string) *ladder.Call {
	delete(f.ending, id)
	delete(f.held, id)
	f.seen = slices.DeleteFunc(f.seen, func(v string) bool { return v == id })
	return f.b.Take(id)
}

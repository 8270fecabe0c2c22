package endpoint

import (
	"context"
	"math"
	"os"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testTimeout bounds every test; calls take about a second each.
const testTimeout = 30 * time.Second

// testContext returns the test's deadline context and checks, after every
// endpoint of the test was closed, that the test left no goroutine behind.
func testContext(t *testing.T) context.Context {
	t.Helper()
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) }) // runs last
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// testLog is silent unless ENDPOINT_TEST_LOG is set (e.g. "debug"): sipgo is
// chatty and its goroutines may outlive a test by a few milliseconds.
func testLog() zerolog.Logger {
	lvl, err := zerolog.ParseLevel(os.Getenv("ENDPOINT_TEST_LOG"))
	if err != nil || os.Getenv("ENDPOINT_TEST_LOG") == "" {
		return zerolog.Nop()
	}
	return zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr}).Level(lvl).With().Timestamp().Logger()
}

func startSBC(t *testing.T, ctx context.Context, cfg SBCConfig) *SBC {
	t.Helper()
	cfg.Log = testLog()
	s, err := StartSBC(ctx, cfg)
	if err != nil {
		t.Fatalf("StartSBC: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("SBC Close: %v", err)
		}
	})
	return s
}

func startClient(t *testing.T, ctx context.Context, cfg ClientConfig) *Client {
	t.Helper()
	cfg.Log = testLog()
	c, err := StartClient(ctx, cfg)
	if err != nil {
		t.Fatalf("StartClient: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("Client Close: %v", err)
		}
	})
	return c
}

func near(got, want float64) bool { return math.Abs(got-want) <= 20 }

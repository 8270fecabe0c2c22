package mediation_test

import (
	"os"
	"testing"

	"github.com/rs/zerolog"

	"github.com/mediation-emulator/mediation/sip"
)

func TestMain(m *testing.M) {
	// sipgo's process-wide logger as the binaries set it (on stderr at
	// warn): otherwise its plain-text lines about connections closed under
	// lingering transactions drown a failing test's output.
	sip.SetDefaultLogger(zerolog.New(os.Stderr).Level(zerolog.WarnLevel))
	os.Exit(m.Run())
}

package mediationtest

// TB is the part of testing.TB the helpers use. It is declared here rather
// than taking testing.TB so that importing this package (as the mediation
// command does for its lab subcommands) does not link the testing package
// and its flags into a production binary; *testing.T and *testing.B
// satisfy it.
type TB interface {
	Helper()
	Cleanup(func())
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	Fatal(args ...any)
}

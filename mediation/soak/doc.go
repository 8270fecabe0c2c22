// Package soak holds the soak test of the mediation server: calls in both
// modes and half-answered ones through one server, after which its
// goroutines, transactions, descriptors, relay ports and heap must be back
// where they started. It has a test binary of its own because it shortens
// sipgo's process-wide protocol timers (T1 and the timers made of it), which
// other tests running in parallel must not see.
package soak

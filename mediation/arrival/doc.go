// Package arrival reads the time the kernel received a UDP datagram
// (SO_TIMESTAMPNS on Linux), so that a delay measured at a busy reader
// does not count the time the datagram waited in the socket's queue for
// the reader to be scheduled, or does, as the measurer chooses. The relay
// uses it for its own delay (from arrival to its relayed send), the lab
// endpoints for the one-way delay of the bench's stamped media.
//
//	var oob []byte
//	if arrival.Enable(conn) {
//		oob = make([]byte, arrival.OOBSize)
//	}
//	n, oobn, src, err := arrival.ReadFrom(conn, buf, oob)
//	waited, ok := arrival.Age(oob[:oobn], time.Now()) // since the kernel got it
//
// Linux turns the stamping on for the whole system when a first socket
// asks, and off when the last one that asked is closed, through deferred
// work: until it has run, a datagram is stamped when it is read. A server
// whose sockets keep the option sees this once, at its first packets.
//
// Elsewhere than on Linux, Enable reports false and Time finds nothing.
package arrival

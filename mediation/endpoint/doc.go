// Package endpoint simulates the two SIP peers of a Cloud Connector Mediation
// Server on loopback: a Skype for Business client (Client, on the edge side)
// and an SBC / PSTN gateway trunk (SBC, on the gateway side).
//
// Both are real SIP user agents (sipgo over UDP and TCP on one port) that send
// a G.711 tone as RTP from their own media socket and report, per call, what
// they saw: response codes, SDP bodies, the negotiated codec, where media went
// and came from, the frequency of the audio they received, its RFC 3550 loss
// and jitter, and the DTMF digits received as RFC 4733 telephone-events
// (CallOptions.DTMF sends some). Tests place
// calls with Call, collect the calls the endpoint answered with NextCall, and
// assert on the CallReport of each side.
//
// The client's SDP is shaped like a real SfB 2016 offer (ICE candidates,
// x-ssrc-range, a=x-bypassid when the client was given a bypass ID, dozens of
// codecs); the SBC's is plain RFC 3264 G.711. Neither endpoint does ICE, SRTP
// or PRACK.
package endpoint

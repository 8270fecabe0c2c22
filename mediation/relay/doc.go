// Package relay anchors the media of a non-bypass call: it owns one RTP/RTCP
// port pair towards the edge (Skype for Business client) and one towards the
// gateway (SBC), relays RTP between them, and terminates RTCP on each side.
//
// The package knows nothing of SIP or SDP. The call state machine allocates a
// Session, advertises Session.Local in its SDP, and tells the Session where
// each peer expects media, in which codec and with which SDES keys with
// Session.SetLeg, as often as re-INVITEs require.
//
// Each RTP packet goes through a short chain of single-purpose stages:
//
//	receive -> latch check -> SRTP decrypt -> parse -> classify by payload type
//	        -> rewrite header -> transcode -> SRTP encrypt -> send
//
// Every stage is a small function or type that can be tested on its own. The
// pass-through and G.711 paths do not allocate per packet, nor do G.722 and
// SRTP once set up.
//
// Transcoding covers PCMU, PCMA and G.722 on the edge and G.711 on the
// gateway: µ-law <-> A-law by table, G.722 <-> G.711 through linear PCM with a
// half-band FIR between 16 and 8 kHz. RFC 4733 events pass with the other
// leg's payload type; comfort noise and unknown payload types are dropped. A
// peer may send any audio format its SDP and ours share (Codec.Accept),
// each packet converted by its own payload type.
//
// RTCP is not relayed (the header rewrite would make the peers' reports
// describe streams the other peer never sees): each peer gets our own SR or
// RR with a reception block about its stream, and its reports give the
// round-trip time. Session.Stats reports counters, loss, jitter and RTT.
//
// A packet that is not relayed is dropped for one reason (DropReason):
// counted per side in Stats, handed to a WithDropObserver, and the first of
// each reason on each side is logged once per session.
//
// Symmetric RTP latching, a media timeout suspended on hold, and a port
// quarantine in the Allocator protect against NATs, dead calls and late
// packets of an old call.
package relay

// Package relay anchors the media of a non-bypass call: it owns one RTP/RTCP
// port pair towards the edge (Skype for Business client) and one towards the
// gateway (SBC), and relays RTP between them, transcoding G.711 µ-law and
// A-law when the two legs negotiated different laws.
//
// The package knows nothing of SIP or SDP. The call state machine allocates a
// Session, advertises Session.Local in its SDP, and tells the Session where
// each peer expects media with Session.SetLeg, as often as re-INVITEs require.
//
// Each RTP packet goes through a short chain of single-purpose stages:
//
//	receive -> parse -> classify by payload type -> transcode -> rewrite header -> send
//
// Every stage is a small function or type that can be tested on its own, so
// that later work (SRTP, G.722, DTMF payload-type remapping, RTCP termination,
// latching, media timeouts) inserts a stage instead of rewriting the loop. The
// pass-through and G.711 paths do not allocate per packet.
package relay

// Package sdp reads the SDP a peer sends to the mediation server and writes
// the SDP the mediation server sends back, for the four call cases of a
// Cloud Connector Edition media-bypass deployment: outbound (client to
// gateway) and inbound (gateway to client), each either bypassed (media flows
// directly between the SfB client and the gateway) or anchored (media flows
// through the mediation server's own RTP ports).
//
// The package is pure: it parses with github.com/pion/sdp/v3, returns small
// values and never touches the network, so the bypass decision made by the
// caller can be tested against real client SDP without sockets.
//
// Only voice is handled: Parse describes the first audio m-line with a
// non-zero port and records just the layout of the others (Media.Lines).
// Offers the mediation server makes carry that one audio m-line, so the
// other side never hears of the peer's video. Answers repeat the offer's
// m-lines in the offer's order, as RFC 3264 §6 requires: the audio line
// answered, every other line (video, data, a second audio) rejected as
// "m=<media> 0 <proto> <first offered format>" with no attributes. An
// answer to an audio-only offer is therefore the audio m-line alone.
//
// The a=x-bypassid attribute follows CCE's (undocumented) convention as
// observed in Skype for Business 2016 client offers: a media-level attribute
// of the audio section whose value is the lower-case, hyphenated GUID the
// client obtained from the CCE hybrid config web service. Two parties may
// bypass the mediation server only when their bypass IDs are equal. Gateways
// are not ICE peers, so everything sent towards a gateway is plain RFC 3264
// SDP with no Microsoft extensions, while SDP sent towards clients carries
// MS-ICE2 style host candidates so ICE-capable clients find the address.
package sdp

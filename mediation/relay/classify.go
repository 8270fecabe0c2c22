package relay

// This file is the classify stage: it decides from the payload type what
// happens to a packet going from one leg to the other.

// dropReason says why a packet was not relayed.
type dropReason uint8

const (
	dropNone dropReason = iota
	// dropMalformed: not a parseable RTP version 2 packet.
	dropMalformed
	// dropUnknownPT: a payload type the legs did not negotiate in a way this
	// relay can map (CN, other codecs, events towards a leg without events).
	dropUnknownPT
	// dropNoPeer: a leg is not set yet, or its peer address is not usable.
	dropNoPeer
)

// route is the classify stage's verdict for one packet.
type route struct {
	drop  dropReason
	pt    uint8      // payload type on the outgoing leg
	table *[256]byte // payload conversion; nil = pass unchanged
}

// classify maps a packet's payload type received on from to its treatment
// towards to. from and to may be nil (leg not set yet).
func classify(pt uint8, from, to *peer) route {
	if from == nil || to == nil || !to.rtpOK {
		return route{drop: dropNoPeer}
	}
	switch {
	case pt == from.leg.Codec.PT:
		return route{pt: to.leg.Codec.PT, table: conversion(from.law, to.law)}
	case pt == from.leg.Codec.EventPT && pt != 0 && to.leg.Codec.EventPT != 0:
		// RFC 4733 events are codec-independent: only the PT changes.
		return route{pt: to.leg.Codec.EventPT}
	default:
		// Never fed to the transcoder: converting comfort noise or an
		// unknown codec as G.711 would turn it into noise on the other leg.
		return route{drop: dropUnknownPT}
	}
}

// Package sip is the mediation server's SIP plumbing on top of sipgo: one Side
// per network side (edge, gateway) with its sockets, user agent, server and
// clients; request classification; builders for the requests a B2BUA
// originates; and the structured SIP trace.
//
// It knows nothing about calls or media: package mediation registers handlers
// on each Side's Server and drives the dialogs.
package sip

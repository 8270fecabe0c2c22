// Session bodies: the SDP of a message whose body is not SDP alone.

package sip

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"strings"

	gosip "github.com/emiago/sipgo/sip"
)

// The B2BUA reads offers and answers from application/sdp bodies. SBCs
// interworking with ISUP (SIP-I, SIP-T: RFC 3204, ITU-T Q.1912.5) send
// multipart/mixed bodies with the SDP beside an application/isup part;
// RFC 5621 says how to take them apart. sessionBody does so as a message
// is dispatched: the rest of the server then sees the SDP part as the
// message's body (the trace keeps the message as received). The ISUP is
// not relayed: the mediation server does not interwork ISUP (CCE does not).

const (
	sdpType         = "application/sdp"
	multipartType   = "multipart/mixed"
	alternativeType = "multipart/alternative"
)

// errUnsupportedBody is a body the server cannot take an offer or answer
// from (RFC 3261 §8.2.3: 415 with Accept).
var errUnsupportedBody = errors.New("unsupported body")

// sessionBody leaves msg's body an application/sdp one, or none, when it
// can: a multipart/mixed body is replaced by its first application/sdp part
// (nothing when it has none), with Content-Type to match. It fails with
// errUnsupportedBody for a body of another type, or a multipart one with a
// part we cannot handle that is not marked handling=optional (RFC 5621
// §9.1: the default handling is required), or a multipart one that does not
// parse. A message without Content-Type is taken as SDP, as before (many
// peers send SDP so).
func sessionBody(msg bodied) error {
	body := msg.Body()
	ct := msg.ContentType()
	if len(body) == 0 || ct == nil {
		return nil
	}
	if strings.EqualFold(ct.Value(), sdpType) {
		return nil // nearly every body: no parsing
	}
	mediaType, params, err := mime.ParseMediaType(ct.Value())
	if err != nil {
		return errors.Join(errUnsupportedBody, err)
	}
	switch mediaType {
	case sdpType:
		return nil
	case multipartType, alternativeType:
	default:
		return errUnsupportedBody
	}
	part, err := sdpPart(body, params["boundary"], mediaType == alternativeType)
	if err != nil {
		return err
	}
	msg.RemoveHeader("Content-Type")
	if part != nil {
		msg.AppendHeader(gosip.NewHeader("Content-Type", sdpType))
	}
	msg.SetBody(part) // sets Content-Length
	return nil
}

// bodied is a request or a response, as far as sessionBody goes.
type bodied interface {
	Body() []byte
	SetBody([]byte)
	ContentType() *gosip.ContentTypeHeader
	RemoveHeader(name string) bool
	AppendHeader(gosip.Header)
}

// sdpPart is the first application/sdp part of a multipart/mixed body,
// or the last one of a multipart/alternative body (RFC 2046 §5.1.4: the
// parts go from the plainest to the richest, and the receiver takes the
// last it understands; Lync's ms-proxy-2007fallback puts its legacy SDP
// first), whose other parts are alternatives, never required.
func sdpPart(body []byte, boundary string, alternative bool) ([]byte, error) {
	if boundary == "" {
		return nil, errors.Join(errUnsupportedBody, errors.New("multipart body without a boundary"))
	}
	r := multipart.NewReader(bytes.NewReader(body), boundary)
	var sdp []byte
	for {
		p, err := r.NextRawPart()
		if errors.Is(err, io.EOF) {
			return sdp, nil
		}
		if err != nil {
			return nil, errors.Join(errUnsupportedBody, err)
		}
		mt, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		if mt == sdpType && (sdp == nil || alternative) {
			if sdp, err = io.ReadAll(io.LimitReader(p, int64(len(body)))); err != nil {
				return nil, errors.Join(errUnsupportedBody, err)
			}
			continue
		}
		if !alternative && !optional(p.Header.Get("Content-Disposition")) {
			return nil, errors.Join(errUnsupportedBody, errors.New("a "+mt+" part that is not optional"))
		}
	}
}

// optional reports a Content-Disposition with handling=optional.
func optional(disposition string) bool {
	_, params, err := mime.ParseMediaType(disposition)
	return err == nil && strings.EqualFold(params["handling"], "optional")
}

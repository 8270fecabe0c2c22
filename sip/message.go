package sip

import (
	"net/netip"
	"strings"

	gosip "github.com/emiago/sipgo/sip"
	"github.com/google/uuid"
)

// Allow lists the methods the mediation server handles, for Allow headers.
const Allow = "INVITE, ACK, BYE, CANCEL, OPTIONS, PRACK, UPDATE, REFER, NOTIFY"

// AllowOutOfDialog lists the methods the mediation server takes outside a
// dialog: the Allow of a 405 to a method it takes only inside one (a
// REFER), which Allow would list (RFC 3261 §21.4.6: the methods valid for
// the address the request named).
const AllowOutOfDialog = "INVITE, ACK, CANCEL, OPTIONS"

// Invite is what the B2BUA copies from one leg's INVITE into the INVITE it
// originates on the other side. Nothing else crosses: the new leg gets its
// own Call-ID, From-tag, Via and Contact.
type Invite struct {
	// Target is HOST:PORT of the next hop.
	Target    netip.AddrPort
	Transport string
	// RequestUser, FromUser and ToUser are user parts (phone numbers).
	RequestUser, FromUser, FromDisplay, ToUser string
	// RequestPhone, FromPhone and ToPhone: that URI of the incoming INVITE
	// named a telephone number (IsPhone), so ours says user=phone too.
	RequestPhone, FromPhone, ToPhone bool
	// RequestParams are URI parameters the Request-URI carries besides
	// transport and user=phone (KeptURIParams).
	RequestParams gosip.HeaderParams
	// MaxForwards is the incoming value minus one.
	MaxForwards int
	// Body is an SDP offer.
	Body []byte
	// Headers are added as they are (Supported, Require, Session-Expires).
	Headers []gosip.Header
}

// NewInvite builds the INVITE this side sends for a new leg.
func (s *Side) NewInvite(inv Invite) *gosip.Request {
	host := URIHost(inv.Target.Addr())
	ruri := gosip.Uri{Scheme: "sip", User: inv.RequestUser, Host: host, Port: int(inv.Target.Port())}
	if isStream(inv.Transport) {
		ruri.UriParams = gosip.NewParams()
		ruri.UriParams.Add("transport", strings.ToLower(inv.Transport))
	}
	if len(inv.RequestParams) > 0 {
		if ruri.UriParams == nil {
			ruri.UriParams = gosip.NewParams()
		}
		ruri.UriParams = append(ruri.UriParams, inv.RequestParams...)
	}
	if inv.RequestPhone {
		userPhone(&ruri)
	}
	req := gosip.NewRequest(gosip.INVITE, ruri)
	req.SetTransport(transportName(inv.Transport))
	from := &gosip.FromHeader{
		DisplayName: inv.FromDisplay,
		Address:     gosip.Uri{Scheme: "sip", User: inv.FromUser, Host: s.stack.Host()},
		Params:      gosip.NewParams(),
	}
	from.Params.Add("tag", gosip.GenerateTagN(16))
	to := &gosip.ToHeader{Address: gosip.Uri{Scheme: "sip", User: inv.ToUser, Host: host}, Params: gosip.NewParams()}
	if inv.FromPhone {
		userPhone(&from.Address)
	}
	if inv.ToPhone {
		userPhone(&to.Address)
	}
	mf := gosip.MaxForwardsHeader(inv.MaxForwards)
	// Call-ID and CSeq are set here, not by sipgo, so that the call can be
	// registered under its new dialog before the INVITE leaves.
	callID := gosip.CallIDHeader(uuid.NewString())
	contact := s.Contact(inv.Transport)
	req.AppendHeader(from)
	req.AppendHeader(to)
	req.AppendHeader(&callID)
	req.AppendHeader(&gosip.CSeqHeader{SeqNo: 1, MethodName: gosip.INVITE})
	req.AppendHeader(&mf)
	req.AppendHeader(&contact)
	req.AppendHeader(gosip.NewHeader("Allow", Allow))
	for _, h := range inv.Headers {
		req.AppendHeader(h)
	}
	if inv.Body != nil {
		req.AppendHeader(gosip.NewHeader("Content-Type", "application/sdp"))
		setBody(req, inv.Body)
	}
	return req
}

// MaxForwards is the request's Max-Forwards, 70 when absent (RFC 3261
// §8.1.1.6's recommended initial value).
func MaxForwards(req *gosip.Request) int {
	if mf := req.MaxForwards(); mf != nil {
		return int(mf.Val())
	}
	return 70
}

// CapabilityHeaders are the headers that tell a peer what we handle, for
// OPTIONS answers and 405s: supported are the option tags of the side.
func CapabilityHeaders(supported ...string) []gosip.Header {
	return []gosip.Header{
		gosip.NewHeader("Allow", Allow),
		gosip.NewHeader("Accept", "application/sdp"),
		OptionHeader("Supported", supported...),
	}
}

// UserOf is the number (or name) a URI names: a SIP URI's user part, a
// tel: URI's number without its parameters (RFC 3966:
// tel:+15550200;phone-context=...; sipgo keeps a tel: URI whole in Raw).
func UserOf(u gosip.Uri) string {
	if strings.EqualFold(u.Scheme, "tel") {
		number, _, _ := strings.Cut(u.Raw(), ";")
		return number
	}
	return u.User
}

// NumberOf is the number a URI names without the RFC 3966 parameters that
// may follow it (ext, isub, phone-context, ...): UserOf up to its first
// ";", in a tel: URI as in a SIP URI's user part, where SfB clients put an
// extension (sip:+14255550100;ext=123@example.com;user=phone, RFC 3261
// §19.1.6). Routing matches it, so that one number routes alike whatever
// the URI's form; what is relayed keeps UserOf's whole user part.
func NumberOf(u gosip.Uri) string {
	number, _, _ := strings.Cut(UserOf(u), ";")
	return number
}

// IsPhone reports a URI naming a telephone number: a tel: URI, or a SIP URI
// with user=phone (RFC 3261 §19.1.1, RFC 3966).
func IsPhone(u gosip.Uri) bool {
	if strings.EqualFold(u.Scheme, "tel") {
		return true
	}
	for _, kv := range u.UriParams {
		if strings.EqualFold(kv.K, "user") && strings.EqualFold(kv.V, "phone") {
			return true
		}
	}
	return false
}

// userPhone adds user=phone to a SIP URI we build.
func userPhone(u *gosip.Uri) {
	if u.UriParams == nil {
		u.UriParams = gosip.HeaderParams{}
	}
	u.UriParams = append(u.UriParams, gosip.HeaderParams{{K: "user", V: "phone"}}...)
}

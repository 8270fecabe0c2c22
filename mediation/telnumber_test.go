package mediation_test

import (
	"testing"
	"time"

	"github.com/emiago/sipgo"
	gosip "github.com/emiago/sipgo/sip"
)

// TestTelURIs: a caller naming numbers with tel: URIs (RFC 3966; IMS
// carriers and SBCs send them) in the Request-URI, From and To has the
// numbers copied into the callee's INVITE (in sip: URIs with user=phone)
// and the call record, and routed on, as with sip: URIs' user parts.
func TestTelURIs(t *testing.T) {
	ctx := testCtx(t, 20*time.Second)
	sbc := startPeer(t, "sbc")
	sbc.invites(func(pi *peerInvite) { pi.respond(200, fixtureBody(t, "sbc-answer-pcma.sdp")) })
	srv := serveTo(t, sbc.addr(), "udp", nil)
	caller := startPeer(t, "caller")
	tel := func(s string) gosip.Uri {
		var u gosip.Uri
		if err := gosip.ParseUri(s, &u); err != nil {
			t.Fatal(err)
		}
		return u
	}
	inv := request(gosip.INVITE, srv.EdgeAddr().String(), "udp", fixtureBody(t, "sfb-bypass-offer.sdp"))
	inv.Recipient = tel("tel:+15550100")
	inv.SetDestination(srv.EdgeAddr().String()) // a tel: URI names no host
	inv.RemoveHeader("Contact")
	contact := caller.stack.Contact("caller", "udp")
	inv.AppendHeader(&contact)
	from := &gosip.FromHeader{Address: tel("tel:+14255550100"), Params: gosip.NewParams()}
	from.Params.Add("tag", gosip.GenerateTagN(10))
	inv.AppendHeader(from)
	inv.AppendHeader(&gosip.ToHeader{Address: tel("tel:5550100;phone-context=+1"), Params: gosip.NewParams()})
	dua := &sipgo.DialogUA{Client: caller.stack.Client("udp"), ContactHDR: contact}
	d, err := dua.WriteInvite(ctx, inv)
	if err != nil {
		t.Fatal(err)
	}
	oc := &outCall{p: caller, inv: inv, d: d}
	if res := oc.answer(ctx, nil); res.StatusCode != 200 {
		t.Fatalf("call with tel: URIs got %d %s, want 200", res.StatusCode, res.Reason)
	}
	_ = d.Ack(ctx)
	got := sbc.wait(ctx, gosip.INVITE, 1)
	if u := got.Recipient.User; u != "+15550100" {
		t.Errorf("SBC's Request-URI %s: user %q, want +15550100", got.Recipient.String(), u)
	}
	if u := got.From().Address.User; u != "+14255550100" {
		t.Errorf("SBC's From %s: user %q, want +14255550100", got.From().Value(), u)
	}
	if u := got.To().Address.User; u != "5550100" {
		t.Errorf("SBC's To %s: user %q, want 5550100", got.To().Value(), u)
	}
	for name, u := range map[string]gosip.Uri{"Request-URI": got.Recipient, "From": got.From().Address, "To": got.To().Address} {
		if v, _ := u.UriParams.Get("user"); v != "phone" {
			t.Errorf("SBC's %s %s: want user=phone, as a number it is", name, u.String())
		}
	}
	_ = d.Bye(ctx)
	sbc.wait(ctx, gosip.BYE, 1)
}

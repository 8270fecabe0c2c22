package mediation

import (
	"bytes"

	"github.com/mediation-emulator/mediation/mediation/relay"
	"github.com/mediation-emulator/mediation/sdp"
)

// SRTP modes of a gateway trunk (gateways[].srtp), as CCE's SRTPMode.
const (
	srtpOff      = "off"
	srtpOptional = "optional"
	srtpRequired = "required"
)

// keying is the SDES state of one side of a call: the key we declared to
// that peer (what we encrypt with) and the key it declared (what we decrypt
// with). SRTP runs on the side only when both exist.
type keying struct {
	ours, theirs *sdp.Crypto
	// savp: the SDP we send that peer says RTP/SAVP (SRTP required) rather
	// than RTP/AVP with optional a=crypto, as SfB writes it.
	savp bool
}

// relay is the side's keying for the relay, nil for plain RTP.
func (k keying) relay() *relay.SRTP {
	if k.ours == nil || k.theirs == nil {
		return nil
	}
	return &relay.SRTP{Profile: k.theirs.Suite,
		Recv: relay.Keying{Master: k.theirs.Master, MKI: k.theirs.MKI},
		Send: relay.Keying{Master: k.ours.Master, MKI: k.ours.MKI}}
}

// apply puts our key into an SDP for the peer.
func (k keying) apply(d *sdp.Description) {
	if k.ours == nil {
		return
	}
	d.Crypto = []sdp.Crypto{*k.ours}
	d.SAVP = k.savp
}

// answerTo takes the peer's offer: its first usable key, and a key of ours
// for the answer. An offer that requires SRTP (RTP/SAVP), or a side where
// we require it, without a usable key is refused. prev is the SDP that
// peer sent before (latest; zero for a first offer).
//
// A re-offer on a side that runs SRTP keeps our key only when it keeps
// the peer's own crypto context and media address: a line of our tag and
// suite with the peer's key as before, and the same c= address and m=
// port as prev. The answer then repeats the a=crypto line we sent before
// (tag, suite, key, lifetime, MKI), so the peer, which installs our key
// only once it has our answer, decrypts what the relay sends meanwhile,
// and the relay's send context, with its rollover counter, goes on. Any
// other re-offer gets a new key of ours, and so a new send context at
// rollover counter 0 (RFC 3711 §3.3.1): a peer that re-keys, moves its
// media (an SRTP pass-through SBC handing the call to another endpoint, a
// client on a new network) or changes suite or tag may set up a new
// receive context, at rollover counter 0, which could not decrypt our old
// context once its counter has passed 0 (r24-reviewB #1). Among several
// lines the one of our tag and suite is taken, so a peer listing its
// lines as before is answered as before.
func (k *keying) answerTo(offer, prev sdp.Media, require bool) error {
	cryptos := offer.SRTP()
	if len(cryptos) == 0 {
		*k = keying{}
		switch {
		case offer.RequiresSRTP():
			return errNotAcceptable{"No usable a=crypto (AES_CM_128_HMAC_SHA1_80/32, inline key) in an " + offer.Proto + " offer"}
		case require:
			return errNotAcceptable{"SRTP is required on this side and the offer has no usable a=crypto"}
		}
		return nil
	}
	theirs := cryptos[0]
	if k.ours != nil && k.theirs != nil && offer.Addr == prev.Addr && offer.Port == prev.Port {
		if c := k.continuing(cryptos); c != nil {
			*k = keying{ours: k.ours, theirs: c, savp: offer.RequiresSRTP()}
			return nil
		}
	}
	ours, err := sdp.NewCrypto(theirs)
	if err != nil {
		return err
	}
	*k = keying{ours: &ours, theirs: &theirs, savp: offer.RequiresSRTP()}
	return nil
}

// take takes the keys of the peer's new SDP: an offer as answerTo does;
// its answer to an SDP of ours (answer: in an ACK, a refresh's 2xx), which
// nothing answers, as accept does, our key staying the one that SDP gave
// it. A new key of ours there, which the peer never learns, had it
// decrypt nothing the relay sent it from then on.
func (k *keying) take(sdpOf, prev sdp.Media, answer, require bool) error {
	if answer {
		return k.accept(sdpOf, require)
	}
	return k.answerTo(sdpOf, prev, require)
}

// continuing is the line of cryptos that continues the side's crypto
// context: our line's tag and suite, with the peer's key as before. nil
// when there is none.
func (k keying) continuing(cryptos []sdp.Crypto) *sdp.Crypto {
	for _, c := range cryptos {
		if c.Tag == k.ours.Tag && c.Suite == k.ours.Suite && c.Suite == k.theirs.Suite &&
			bytes.Equal(c.Master, k.theirs.Master) && bytes.Equal(c.MKI, k.theirs.MKI) {
			return &c
		}
	}
	return nil
}

// offer makes the key we offer the peer: reuse when given (the other
// peer's own key, so that media bypass works end to end), else a new one.
func (k *keying) offer(savp bool, reuse *sdp.Crypto) error {
	ours := sdp.Crypto{}
	if reuse != nil {
		ours = *reuse
	} else {
		var err error
		if ours, err = sdp.NewCrypto(sdp.Crypto{Tag: 1, Suite: sdp.SuiteAES80}); err != nil {
			return err
		}
	}
	*k = keying{ours: &ours, savp: savp}
	return nil
}

// accept takes the peer's answer to our offered key: the line with our tag
// and suite. Without one the side runs plain RTP, unless we require SRTP.
func (k *keying) accept(ans sdp.Media, require bool) error {
	k.theirs = nil
	if k.ours == nil {
		return nil
	}
	for _, c := range ans.SRTP() {
		if c.Tag == k.ours.Tag && c.Suite == k.ours.Suite {
			k.theirs = &c
			return nil
		}
	}
	if require {
		return errNotAcceptable{"SRTP is required on this side and the answer has no matching a=crypto"}
	}
	k.ours = nil
	return nil
}

// matching is the line of cryptos with tag, for passing keys through a
// bypassed call.
func matching(cryptos []sdp.Crypto, tag int) *sdp.Crypto {
	for _, c := range cryptos {
		if c.Tag == tag {
			return &c
		}
	}
	return nil
}

package sip

import (
	"context"
	"fmt"
	"net/netip"

	gosip "github.com/emiago/sipgo/sip"
)

// NewOptions builds an out-of-dialog OPTIONS to target: a keep-alive or
// health probe (RFC 3261 §11).
func (s *Side) NewOptions(target netip.AddrPort, transport string) *gosip.Request {
	req := s.NewInvite(Invite{Target: target, Transport: transport, MaxForwards: 70})
	req.Method = gosip.OPTIONS
	req.ReplaceHeader(&gosip.CSeqHeader{SeqNo: 1, MethodName: gosip.OPTIONS})
	req.AppendHeader(gosip.NewHeader("Accept", "application/sdp"))
	return req
}

// Ping sends OPTIONS to target and waits for its final response, until ctx
// ends. Any final response (even 404 or 405) means the peer is alive.
func (s *Side) Ping(ctx context.Context, target netip.AddrPort, transport string) (*gosip.Response, error) {
	sink := &pingSink{res: make(chan *gosip.Response, 1), done: make(chan error, 1)}
	tx, err := s.Send(ctx, s.NewOptions(target, transport), sink)
	if err != nil {
		return nil, err
	}
	select {
	case res := <-sink.res:
		tx.Terminate()
		return res, nil
	case err := <-sink.done:
		if err == nil {
			err = ErrTimeout
		}
		return nil, fmt.Errorf("OPTIONS to %s: %w", target, err)
	case <-ctx.Done():
		tx.Terminate()
		return nil, fmt.Errorf("OPTIONS to %s: no answer: %w", target, ctx.Err())
	}
}

// pingSink hands Ping the first final response, or the transaction's end.
type pingSink struct {
	res  chan *gosip.Response
	done chan error
}

func (p *pingSink) OnResponse(_ *ClientTx, res *gosip.Response) {
	if res.IsProvisional() {
		return
	}
	select {
	case p.res <- res:
	default:
	}
}

func (p *pingSink) OnDone(_ *ClientTx, err error) {
	select {
	case p.done <- err:
	default:
	}
}

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
	sink := newPingSink()
	tx, err := s.Send(ctx, s.NewOptions(target, transport), sink)
	if err != nil {
		return nil, err
	}
	res, err := sink.wait(ctx)
	if err != nil {
		tx.Terminate()
		return nil, fmt.Errorf("OPTIONS to %s: %w", target, err)
	}
	tx.Terminate()
	return res, nil
}

func newPingSink() *pingSink {
	return &pingSink{res: make(chan *gosip.Response, 1), done: make(chan error, 1)}
}

// wait is the final response, or why there is none.
func (p *pingSink) wait(ctx context.Context) (*gosip.Response, error) {
	select {
	case res := <-p.res:
		return res, nil
	case err := <-p.done:
		// Over TCP and TLS an answered OPTIONS transaction ends at once:
		// the answer and the end are both ready, and select picks either.
		// The answer was handed over first.
		select {
		case res := <-p.res:
			return res, nil
		default:
		}
		if err == nil {
			err = ErrTimeout
		}
		return nil, err
	case <-ctx.Done():
		return nil, fmt.Errorf("no answer: %w", ctx.Err())
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

package sip

import (
	"testing"

	gosip "github.com/emiago/sipgo/sip"
)

type fakeDialogs struct{ dialogs, invites map[string]bool }

func (f fakeDialogs) HasDialog(callID, tag string) bool     { return f.dialogs[callID+"/"+tag] }
func (f fakeDialogs) HasInvite(callID, fromTag string) bool { return f.invites[callID+"/"+fromTag] }

func TestClassify(t *testing.T) {
	known := fakeDialogs{
		dialogs: map[string]bool{"c1/ours": true},
		invites: map[string]bool{"c1/theirs": true},
	}
	tests := []struct {
		name                   string
		method                 gosip.RequestMethod
		callID, fromTag, toTag string
		noVia                  bool
		want                   Class
	}{
		{"new INVITE", gosip.INVITE, "c2", "x", "", false, Initial},
		{"INVITE retransmitted after its transaction", gosip.INVITE, "c1", "theirs", "", false, Duplicate},
		{"re-INVITE of a known dialog", gosip.INVITE, "c1", "theirs", "ours", false, InDialog},
		{"re-INVITE of an unknown dialog", gosip.INVITE, "c1", "theirs", "nope", false, UnknownDialog},
		{"BYE of a known dialog", gosip.BYE, "c1", "theirs", "ours", false, InDialog},
		{"BYE of an unknown dialog", gosip.BYE, "c9", "a", "b", false, UnknownDialog},
		{"BYE without To-tag", gosip.BYE, "c1", "theirs", "", false, UnknownDialog},
		{"ACK of a known dialog", gosip.ACK, "c1", "theirs", "ours", false, InDialog},
		{"CANCEL of no known INVITE", gosip.CANCEL, "c3", "a", "", false, UnknownDialog},
		{"CANCEL of a known INVITE", gosip.CANCEL, "c1", "theirs", "", false, Cancel},
		{"CANCEL of a re-INVITE in a known dialog", gosip.CANCEL, "c1", "theirs", "ours", false, InDialog},
		{"PRACK of a known dialog", gosip.PRACK, "c1", "theirs", "ours", false, InDialog},
		{"UPDATE of an unknown dialog", gosip.UPDATE, "c1", "theirs", "nope", false, UnknownDialog},
		{"OPTIONS ping", gosip.OPTIONS, "c4", "a", "", false, OutOfDialog},
		{"OPTIONS in a known dialog", gosip.OPTIONS, "c1", "theirs", "ours", false, InDialog},
		{"INFO of an unknown dialog", gosip.INFO, "c5", "a", "b", false, UnknownDialog},
		{"REFER of a known dialog", gosip.REFER, "c1", "theirs", "ours", false, InDialog},
		{"REFER of an unknown dialog", gosip.REFER, "c5", "a", "b", false, UnknownDialog},
		{"REFER outside a dialog", gosip.REFER, "c7", "a", "", false, OutOfDialog},
		{"NOTIFY without To-tag", gosip.NOTIFY, "c8", "a", "", false, UnknownDialog},
		{"no Via", gosip.INVITE, "c6", "a", "", true, Invalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := gosip.NewRequest(tt.method, gosip.Uri{Scheme: "sip", User: "+1555", Host: "127.0.0.1"})
			if !tt.noVia {
				via := &gosip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: "UDP", Host: "127.0.0.1", Port: 5060, Params: gosip.NewParams()}
				via.Params.Add("branch", gosip.GenerateBranch())
				req.AppendHeader(via)
			}
			from := &gosip.FromHeader{Address: gosip.Uri{Scheme: "sip", User: "a", Host: "127.0.0.1"}, Params: gosip.NewParams()}
			if tt.fromTag != "" {
				from.Params.Add("tag", tt.fromTag)
			}
			to := &gosip.ToHeader{Address: gosip.Uri{Scheme: "sip", User: "b", Host: "127.0.0.1"}, Params: gosip.NewParams()}
			if tt.toTag != "" {
				to.Params.Add("tag", tt.toTag)
			}
			cid := gosip.CallIDHeader(tt.callID)
			req.AppendHeader(from)
			req.AppendHeader(to)
			req.AppendHeader(&cid)
			req.AppendHeader(&gosip.CSeqHeader{SeqNo: 1, MethodName: tt.method})
			if got := Classify(req, known); got != tt.want {
				t.Fatalf("Classify = %v, want %v", got, tt.want)
			}
		})
	}
}

// Direction: what an answer may say about a stream's direction.

package sdp

// AnswerDirection is proposed, the direction an answerer would like to
// state, capped by the offer's (RFC 3264 §6.1): the answer may send only
// if the offerer receives and receive only if the offerer sends, so a
// sendonly offer gets recvonly or inactive, a recvonly one sendonly or
// inactive and an inactive one inactive. The mediation server answers one
// peer with the other peer's direction, and a lax peer (an SBC that
// ignores hold and answers sendrecv) must not make our answer break the
// rule towards the offerer. An unknown direction counts as sendrecv.
func AnswerDirection(offer, proposed string) string {
	o, p := dirBits(offer), dirBits(proposed)
	// The answer sends what the offerer receives and receives what it sends.
	var capped uint8
	if p&dirSend != 0 && o&dirRecv != 0 {
		capped |= dirSend
	}
	if p&dirRecv != 0 && o&dirSend != 0 {
		capped |= dirRecv
	}
	switch capped {
	case dirSend:
		return SendOnly
	case dirRecv:
		return RecvOnly
	case dirSend | dirRecv:
		return SendRecv
	}
	return Inactive
}

// AnswerDirectionAllowed reports whether an answer's direction is one RFC
// 3264 §6.1 allows for the offer's.
func AnswerDirectionAllowed(offer, answer string) bool {
	return AnswerDirection(offer, answer) == normalDirection(answer)
}

const (
	dirSend uint8 = 1 << iota
	dirRecv
)

func dirBits(dir string) uint8 {
	switch dir {
	case SendOnly:
		return dirSend
	case RecvOnly:
		return dirRecv
	case Inactive:
		return 0
	}
	return dirSend | dirRecv
}

// normalDirection is dir with an unknown one read as sendrecv.
func normalDirection(dir string) string {
	switch dir {
	case SendOnly, RecvOnly, Inactive:
		return dir
	}
	return SendRecv
}

package mediation

import "weak"

// WeakCalls are weak pointers to the calls in progress: a test holds them
// past the calls' end to see that nothing keeps an ended call alive.
func (s *Server) WeakCalls() []weak.Pointer[call] {
	var out []weak.Pointer[call]
	for _, c := range s.calls.all() {
		out = append(out, weak.Make(c))
	}
	return out
}

// BookCalls is the number of calls the web page's call book holds.
func (s *Server) BookCalls() int { return len(s.book.snapshot()) }

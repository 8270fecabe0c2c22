package sip

// reasonPhrases are the reason phrases of RFC 3261 §21 and of the
// extensions the server speaks (RFC 3262, 3311, 3515, 4028, 6228): what
// our responses say, and what replaces a peer's phrase that cannot be
// relayed (newResponse), provisional ones included.
var reasonPhrases = map[int]string{
	100: "Trying", 180: "Ringing", 181: "Call Is Being Forwarded", 182: "Queued", 183: "Session Progress",
	199: "Early Dialog Terminated",
	200: "OK", 202: "Accepted",
	300: "Multiple Choices", 301: "Moved Permanently", 302: "Moved Temporarily", 305: "Use Proxy",
	380: "Alternative Service",
	400: "Bad Request", 401: "Unauthorized", 402: "Payment Required", 403: "Forbidden", 404: "Not Found",
	405: "Method Not Allowed", 406: "Not Acceptable", 407: "Proxy Authentication Required",
	408: "Request Timeout", 410: "Gone", 413: "Request Entity Too Large", 414: "Request-URI Too Long",
	415: "Unsupported Media Type", 416: "Unsupported URI Scheme", 420: "Bad Extension",
	421: "Extension Required", 422: "Session Interval Too Small", 423: "Interval Too Brief",
	480: "Temporarily Unavailable", 481: "Call/Transaction Does Not Exist", 482: "Loop Detected",
	483: "Too Many Hops", 484: "Address Incomplete", 485: "Ambiguous", 486: "Busy Here",
	487: "Request Terminated", 488: "Not Acceptable Here", 491: "Request Pending", 493: "Undecipherable",
	500: "Server Internal Error", 501: "Not Implemented", 502: "Bad Gateway", 503: "Service Unavailable",
	504: "Server Time-out", 505: "Version Not Supported", 513: "Message Too Large",
	600: "Busy Everywhere", 603: "Decline", 604: "Does Not Exist Anywhere", 606: "Not Acceptable",
}

// ReasonPhrase is the reason phrase of code, "" when it is not one of those
// above (the phrase is only for humans, and may be empty: RFC 3261 §25.1).
func ReasonPhrase(code int) string { return reasonPhrases[code] }

// Phrase is the reason phrase to send with code: reason, a peer's, unless
// it is empty or has a control character (RFC 3261 §25.1 allows none but
// HTAB), when it is the code's own, so that no peer's escape sequence
// reaches the other peer or a terminal showing the trace. Our responses
// (newResponse) and the status lines of a transfer's NOTIFYs take it.
func Phrase(code int, reason string) string {
	if reason == "" || CheckHeaderValue(reason) != nil {
		return ReasonPhrase(code)
	}
	return reason
}

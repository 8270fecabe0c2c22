package sip

// reasonPhrases are RFC 3261's reason phrases (§21) of the final codes the
// server and the lab endpoints send or translate to.
var reasonPhrases = map[int]string{
	400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 408: "Request Timeout",
	410: "Gone", 480: "Temporarily Unavailable", 484: "Address Incomplete", 486: "Busy Here",
	487: "Request Terminated", 488: "Not Acceptable Here", 500: "Server Internal Error",
	502: "Bad Gateway", 503: "Service Unavailable", 504: "Server Time-out", 600: "Busy Everywhere",
	603: "Decline", 604: "Does Not Exist Anywhere", 606: "Not Acceptable",
}

// ReasonPhrase is RFC 3261's reason phrase of a final code, "" when it is
// not one of those above (the phrase is only for humans).
func ReasonPhrase(code int) string { return reasonPhrases[code] }

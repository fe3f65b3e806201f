//go:build solution

package polling

import (
	"net/http"
	"strconv"
	"time"
)

// retryAfter returns how long a 429 Too Many Requests or 503 Service Unavailable
// answer asks the client to wait before asking again, read from its Retry-After
// header: a number of seconds ("1") or an HTTP date. It returns 0 for any other
// answer, or a header that is missing, malformed or in the past; Poll then uses
// its own backoff, and otherwise waits at least this long.
func retryAfter(resp *http.Response, now time.Time) time.Duration {
	// RFC 9110 gives Retry-After a meaning on 503 (the service is down for a
	// while) and RFC 6585 on 429 (you are asking too often). On other statuses
	// it says something else (a 3xx: when to follow) or nothing we act on.
	if resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable {
		return 0
	}
	v := resp.Header.Get("Retry-After")
	if v == "" {
		return 0
	}
	// delay-seconds: a non-negative integer. The server measured it from when
	// it answered, so counting from now waits a little longer, never less.
	if secs, err := strconv.ParseUint(v, 10, 32); err == nil {
		return time.Duration(secs) * time.Second
	}
	// HTTP-date, such as "Sun, 06 Dec 2026 09:35:16 GMT". http.ParseTime also
	// accepts the two obsolete formats RFC 9110 tells recipients to accept. A
	// date measures from the server's clock, so a client whose clock runs ahead
	// waits less: that is why servers mostly send seconds.
	when, err := http.ParseTime(v)
	if err != nil || !when.After(now) {
		return 0 // malformed, or already past: our own backoff is the best guess
	}
	return when.Sub(now)
}

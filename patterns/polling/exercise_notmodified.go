//go:build !solution

package polling

import "net/http"

// notModified lets a conditional poll skip the body. It tags every answer with
// ETag: "<next>" (next quoted), and when the request's If-None-Match names that
// tag, the client already has this answer: it writes 304 Not Modified with no
// body and returns true, so Handler writes nothing more. Otherwise it returns false.
// A 304 carries the caching headers a 200 would (Cache-Control: no-store, the
// ETag). If-None-Match may list several tags, and compares weakly: W/"5" names "5".
// TODO(exercise): set the ETag, and answer 304 when If-None-Match holds it.
func notModified(w http.ResponseWriter, r *http.Request, next uint64) bool {
	return false
}

package websocket

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"

	"commlab/shared"
)

// This file holds the checks ServeHTTP makes before the upgrade, and the small
// piece of plumbing that keeps the hijacked TCP connection at hand.

// reject answers a request that cannot become a WebSocket with {"error": ...},
// counts it in /metrics and logs it.
func (s *Server) reject(w http.ResponseWriter, r *http.Request, status int, reason, msg string) {
	s.stats.Bad(reason)
	s.log.Info("request rejected", "pattern", s.stats.Name, "remote", r.RemoteAddr, "reason", reason, "err", msg)
	shared.WriteError(w, status, msg)
}

// isUpgrade reports whether r asks for the WebSocket upgrade.
func isUpgrade(r *http.Request) bool {
	return headerHasToken(r.Header, "Connection", "upgrade") && headerHasToken(r.Header, "Upgrade", "websocket")
}

func headerHasToken(h http.Header, key, token string) bool {
	for _, v := range h.Values(key) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// parseSince reads ?since=N from a query parsed with shared.Query. resume is
// false without one: the client wants live ticks only.
func parseSince(q url.Values) (since uint64, resume bool, err error) {
	if !q.Has("since") {
		return 0, false, nil
	}
	since, err = strconv.ParseUint(q.Get("since"), 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("since must be a tick seq (a non-negative integer), got %q", q.Get("since"))
	}
	return since, true, nil
}

// originAllowed applies coder/websocket's origin rule: no Origin header (not a
// browser), an Origin whose host is the request's Host, or one that matches a
// pattern.
func originAllowed(r *http.Request, patterns []string) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	for _, p := range patterns {
		target := u.Host
		if strings.Contains(p, "://") {
			target = u.Scheme + "://" + u.Host
		}
		if ok, err := path.Match(strings.ToLower(p), strings.ToLower(target)); ok && err == nil {
			return true
		}
	}
	return false
}

// hijackRecorder keeps the TCP connection Accept takes over, so that close can
// cut it when the peer does not answer the close handshake.
type hijackRecorder struct {
	http.ResponseWriter
	conn net.Conn
}

func (h *hijackRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, rw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	h.conn = conn
	return conn, rw, err
}

func (h *hijackRecorder) Unwrap() http.ResponseWriter { return h.ResponseWriter }

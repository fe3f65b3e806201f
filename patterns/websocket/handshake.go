package websocket

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

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
// cut it when the peer does not answer the close handshake, and slips a
// batchConn between it and the library: every write the library makes gets a
// deadline of timeout, and the writer can send a batch of frames in one write.
type hijackRecorder struct {
	http.ResponseWriter
	timeout time.Duration
	conn    net.Conn   // the connection itself
	batch   *batchConn // the library's view of it
}

func (h *hijackRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, rw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return conn, rw, err
	}
	h.conn = conn
	h.batch = newBatchConn(conn, h.timeout)
	// net/http's buffers are 4 KiB each, sized for HTTP requests and
	// responses, and net/http keeps pointers to them for as long as the
	// handler runs: replace them in place with small ones, for frames of a
	// few dozen bytes. The writer holds nothing (net/http flushes it before
	// the hijack); the reader may hold the client's first frames, which the
	// new one must hold in turn, since Accept keeps only what is buffered.
	*rw.Writer = *bufio.NewWriterSize(h.batch, frameBufSize)
	held, err := rw.Reader.Peek(rw.Reader.Buffered())
	if err != nil {
		return conn, rw, err
	}
	held = bytes.Clone(held)
	*rw.Reader = *bufio.NewReaderSize(io.MultiReader(bytes.NewReader(held), h.batch), max(frameBufSize, len(held)))
	if _, err := rw.Reader.Peek(len(held)); err != nil {
		return conn, rw, err
	}
	return h.batch, rw, nil
}

// frameBufSize is the size of a connection's read and write buffers. A tick's
// frame (about 70 bytes) fits in one with room to spare, so one message is
// still one write; a longer one takes a few.
const frameBufSize = 512

func (h *hijackRecorder) Unwrap() http.ResponseWriter { return h.ResponseWriter }

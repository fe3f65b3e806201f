package polling

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"commlab/shared"
)

// The limits of GET /api/poll, as the contract states them.
const (
	DefaultLimit = 500              // ticks per response when the request names no limit
	MaxLimit     = 5000             // largest limit a request may ask for
	MaxWait      = 30 * time.Second // longest a long poll may be held
)

// writeTimeout bounds the write of one response: a client that stops reading
// cannot hold a server goroutine longer than this.
const writeTimeout = 10 * time.Second

// query is a validated /api/poll request.
type query struct {
	since    uint64
	hasSince bool // without since, a short poll gets the newest tick alone
	limit    int
	wait     time.Duration // > 0: long polling
}

// badInput is a rejected request: reason is the stable metrics label, msg the
// message the client gets in {"error": msg}.
type badInput struct {
	reason, msg string
}

// Handler serves GET /api/poll: short polling, and long polling when the request
// carries wait. Both read the gateway's history; neither keeps any state about the
// client between requests. The client carries its place in the feed (since) and the
// server answers from what it holds. short and long count the two styles apart.
func Handler(gw *shared.Gateway, short, long *shared.PatternStats, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The presence of wait is what makes a request a long poll, so even a
		// request that is about to be rejected is counted with the right style.
		values, queryErr := shared.Query(r)
		stats := short
		if values.Has("wait") {
			stats = long
		}
		shared.CountWritesAs(r, &stats.Bytes)
		stats.Requests.Add(1)
		stats.Clients.Add(1) // for polling: requests in flight
		defer stats.Clients.Add(-1)

		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			reject(w, r, stats, log, http.StatusMethodNotAllowed,
				&badInput{"method", fmt.Sprintf("method %s not allowed: use GET or HEAD", r.Method)})
			return
		}
		if queryErr != nil {
			reject(w, r, stats, log, http.StatusBadRequest, &badInput{"query", queryErr.Error()})
			return
		}
		q, bad := parseQuery(values)
		if bad != nil {
			reject(w, r, stats, log, http.StatusBadRequest, bad)
			return
		}

		var (
			ticks []*shared.Tick
			next  uint64
			reset bool
		)
		switch {
		case q.wait > 0:
			ticks, next, reset = await(r.Context(), gw.History, q)
		case q.hasSince:
			ticks, next, reset = gw.History.Since(q.since, q.limit, nil)
		default:
			// A new client's starting point: the newest tick, which it can then
			// poll after. Before the first tick there is nothing: next = 0.
			if newest := gw.History.Newest(); newest != nil {
				ticks, next = []*shared.Tick{newest}, newest.Seq
			}
		}
		if n := len(ticks); n > 0 {
			next = ticks[n-1].Seq // the client's next since: the last tick it got
		}
		if notModified(w, r, next) { // a conditional poll that has it all: 304, no body
			return
		}

		body := appendPage(make([]byte, 0, 64+len(ticks)*100), ticks, next, reset)
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		if err := write(w, body); err != nil {
			log.Debug("poll: write", "pattern", stats.Name, "remote", r.RemoteAddr, "err", err)
			return
		}
		if r.Method == http.MethodGet {
			now := time.Now()
			for _, t := range ticks {
				stats.ObserveLatency(t, now)
			}
			stats.Messages.Add(uint64(len(ticks)))
		}
		log.Debug("poll: served", "pattern", stats.Name, "remote", r.RemoteAddr,
			"since", q.since, "ticks", len(ticks), "next", next, "reset", reset)
	})
}

// await is long polling: it answers at once when ticks after q.since are held (or
// the client must reset), and otherwise holds the request until the next tick
// arrives, q.wait passes, or the request ends (client gone, or server shutdown).
// The last two answer with no ticks and next = since, so the client simply asks again.
func await(ctx context.Context, h *shared.History, q query) (ticks []*shared.Tick, next uint64, reset bool) {
	since := q.since
	if !q.hasSince {
		since = h.Last() // wait for the first tick after the newest
	}
	timer := time.NewTimer(q.wait)
	defer timer.Stop()
	for {
		// Take the channel BEFORE reading the history: a tick appended between the
		// two closes this channel, so it can never slip by unnoticed.
		changed := h.Changed()
		ticks, next, reset = h.Since(since, q.limit, nil)
		if len(ticks) > 0 || reset {
			return ticks, next, reset
		}
		select {
		case <-changed:
		case <-timer.C:
			return nil, since, false
		case <-ctx.Done():
			return nil, since, false
		}
	}
}

// appendPage appends the response body. Each tick's Raw bytes are copied as they
// came from the feed: the server never re-encodes a tick.
//
//	{"ticks":[{"seq":41,...},{"seq":42,...}],"next":42,"reset":false}
func appendPage(dst []byte, ticks []*shared.Tick, next uint64, reset bool) []byte {
	dst = append(dst, `{"ticks":[`...)
	for i, t := range ticks {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, t.Raw...)
	}
	dst = append(dst, `],"next":`...)
	dst = strconv.AppendUint(dst, next, 10)
	dst = append(dst, `,"reset":`...)
	dst = strconv.AppendBool(dst, reset)
	return append(dst, "}\n"...)
}

// parseQuery validates since, limit and wait. Each message names the parameter,
// what it accepts, and what it got, so a learner's client can be fixed from it.
func parseQuery(v url.Values) (query, *badInput) {
	q := query{limit: DefaultLimit}
	if v.Has("since") {
		s := v.Get("since")
		since, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return q, &badInput{"since", fmt.Sprintf(
				"since must be a tick seq, an integer from 0 to %d; got %q", uint64(math.MaxUint64), s)}
		}
		q.since, q.hasSince = since, true
	}
	if v.Has("limit") {
		s := v.Get("limit")
		limit, err := strconv.Atoi(s)
		if err != nil || limit < 1 || limit > MaxLimit {
			return q, &badInput{"limit", fmt.Sprintf(
				"limit must be an integer from 1 to %d; got %q", MaxLimit, s)}
		}
		q.limit = limit
	}
	if v.Has("wait") {
		s := v.Get("wait")
		wait, err := time.ParseDuration(s)
		if err != nil || wait <= 0 || wait > MaxWait {
			return q, &badInput{"wait", fmt.Sprintf(
				"wait must be a Go duration above 0 and at most %s, such as 500ms or 10s; got %q", MaxWait, s)}
		}
		q.wait = wait
	}
	return q, nil
}

// reject answers a bad request with {"error": ...} and counts it in /metrics.
func reject(w http.ResponseWriter, r *http.Request, stats *shared.PatternStats, log *slog.Logger, status int, bad *badInput) {
	stats.Bad(bad.reason)
	log.Info("poll: rejected request", "pattern", stats.Name, "remote", r.RemoteAddr,
		"reason", bad.reason, "err", bad.msg)
	if err := setWriteDeadline(w); err != nil {
		log.Debug("poll: write deadline", "pattern", stats.Name, "remote", r.RemoteAddr, "err", err)
	}
	shared.WriteError(w, status, bad.msg)
}

// write sends a 200 JSON response under a write deadline.
func write(w http.ResponseWriter, body []byte) error {
	if err := setWriteDeadline(w); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store") // every poll must reach the server
	_, err := w.Write(body)
	return err
}

// setWriteDeadline is set just before writing, never before a long poll's wait,
// so the wait itself is not limited by it.
func setWriteDeadline(w http.ResponseWriter) error {
	err := http.NewResponseController(w).SetWriteDeadline(time.Now().Add(writeTimeout))
	if errors.Is(err, http.ErrNotSupported) {
		return nil // e.g. an httptest.ResponseRecorder: no connection to bound
	}
	return err
}

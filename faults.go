package main

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"sync"

	"commlab/shared"
)

// Faults a learner injects from the dashboard, into their own connections
// only. A browser client names itself with ?client=ID on its streams (the
// dashboard picks a random ID per tab); POST /api/fault/slow?pattern=sse&client=ID
// then makes that client's open SSE connections slow, and the learner watches
// the server's defence against slow clients act on them: the connection's
// queue fills, the server cuts it off, the client reconnects and resumes.
//
// Slow here means slow at the socket: every write the server makes on the
// connection blocks as long as its bytes take on a link of slowLinkBps, as a
// write to a congested link or to a client that has stopped reading does.
// Nothing in the patterns knows.

// slowLinkBps is the slowed link's rate. It carries about 5 ticks a second
// (some 70 to 100 bytes each, framing included), whether the server sends
// them one to a write or several: the default feed of 20 ticks/s overflows
// the client's queue in 20 to 35 s (a WebSocket's writer also holds the batch
// it is writing), a feed of 100 in a few seconds.
const slowLinkBps = 400

// clientIDs are short and plain: they are map keys and appear in logs.
var clientIDs = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

type faults struct {
	mu    sync.Mutex
	conns map[faultKey]map[*throttle]struct{}
}

type faultKey struct{ pattern, client string }

// throttle is one open connection's way to slow its writes.
type throttle struct {
	set    func(bytesPerSecond int)
	remote string // the connection's address, as the pattern's log lines show it
}

func newFaults() *faults { return &faults{conns: make(map[faultKey]map[*throttle]struct{})} }

// track keeps the connection of a request that names its client findable
// while h serves it; a kept-alive connection is fast again afterwards. A
// WebSocket outlives its handler: it stays findable until it closes.
func (f *faults) track(pattern string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		client := r.URL.Query().Get("client")
		set, ok := shared.Throttle(r)
		if !ok || !clientIDs.MatchString(client) {
			h.ServeHTTP(w, r)
			return
		}
		key, t := faultKey{pattern, client}, &throttle{set, r.RemoteAddr}
		f.mu.Lock()
		if f.conns[key] == nil {
			f.conns[key] = make(map[*throttle]struct{})
		}
		f.conns[key][t] = struct{}{}
		f.mu.Unlock()
		untrack := func() {
			f.mu.Lock()
			delete(f.conns[key], t)
			if len(f.conns[key]) == 0 {
				delete(f.conns, key)
			}
			f.mu.Unlock()
			set(0)
		}

		h.ServeHTTP(w, r)
		// Write reports http.ErrHijacked once a handler has taken the
		// connection over (and writes nothing after an answer was written).
		if _, err := w.Write(nil); errors.Is(err, http.ErrHijacked) {
			if closed, ok := shared.ConnClosed(r); ok {
				go func() { <-closed; untrack() }()
				return
			}
		}
		untrack()
	})
}

// slow slows every open connection of client for pattern, and returns their
// addresses.
func (f *faults) slow(pattern, client string) (remotes []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for t := range f.conns[faultKey{pattern, client}] {
		t.set(slowLinkBps)
		remotes = append(remotes, t.remote)
	}
	return remotes
}

// handleSlow is POST /api/fault/slow?pattern=sse|ws&client=ID.
func (l *lab) handleSlow() http.Handler {
	stats := l.metrics.Pattern("api")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q, ok := strictQuery(w, r, stats)
		if !ok {
			return
		}
		pattern, client := q.Get("pattern"), q.Get("client")
		if pattern != "sse" && pattern != "ws" {
			stats.Bad("pattern")
			shared.WriteError(w, http.StatusBadRequest, "pattern must be sse or ws: a poll holds nothing for its client, so it has nothing to fall behind on")
			return
		}
		if !clientIDs.MatchString(client) {
			stats.Bad("client")
			shared.WriteError(w, http.StatusBadRequest, "client must be the ID (1 to 64 letters, digits, - or _) the connection gave as ?client=")
			return
		}
		remotes := l.faults.slow(pattern, client)
		n := len(remotes)
		if n == 0 {
			shared.WriteError(w, http.StatusNotFound, fmt.Sprintf("client %q has no open %s connection", client, pattern))
			return
		}
		l.log.Info("fault: connection slowed", "pattern", pattern, "client", client, "connections", remotes, "asked_by", r.RemoteAddr)
		shared.WriteJSON(w, http.StatusOK, map[string]any{
			"slowed":           n,
			"link_bytes_per_s": slowLinkBps,
			"queue":            l.cfg.queueLen,
		})
	})
}

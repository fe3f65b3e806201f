package shared

import "sync"

// History is the gateway's bounded ring of recent ticks, indexed by seq. Short and
// long polling read from it, and SSE and WebSocket clients resume from it after a
// reconnect. It holds a contiguous run of seqs: first..last.
type History struct {
	mu      sync.RWMutex
	buf     []*Tick
	first   uint64 // oldest held seq; first == last+1 when empty
	last    uint64
	changed chan struct{}
}

// NewHistory returns an empty history that holds up to size ticks.
func NewHistory(size int) *History {
	return &History{buf: make([]*Tick, max(size, 1)), first: 1, changed: make(chan struct{})}
}

// Append adds the next tick. A tick that does not continue the held run (the feed
// restarted, or the gateway missed ticks) starts a new run.
func (h *History) Append(t *Tick) {
	h.mu.Lock()
	if t.Seq != h.last+1 {
		h.first = t.Seq
	}
	h.last = t.Seq
	h.buf[t.Seq%uint64(len(h.buf))] = t
	if h.last-h.first >= uint64(len(h.buf)) {
		h.first = h.last - uint64(len(h.buf)) + 1
	}
	// Wake every long poll waiting for this tick: closing a channel is a broadcast.
	close(h.changed)
	h.changed = make(chan struct{})
	h.mu.Unlock()
}

// Reset forgets every held tick, for a feed that restarted under a new epoch.
func (h *History) Reset() {
	h.mu.Lock()
	defer h.mu.Unlock()
	clear(h.buf)
	h.first, h.last = 1, 0
}

// Changed returns a channel that is closed when the next tick is appended.
func (h *History) Changed() <-chan struct{} {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.changed
}

// Last returns the newest held seq, or 0 before the first tick.
func (h *History) Last() uint64 {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.last
}

// Newest returns the newest tick, or nil before the first tick.
func (h *History) Newest() *Tick {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.last < h.first {
		return nil
	}
	return h.buf[h.last%uint64(len(h.buf))]
}

// Since appends to dst up to limit held ticks with seq > since, oldest first, and
// returns them with after == since.
//
// When the ticks right after since are no longer held, the client has lost its
// place: reset is true and after is the seq the client should treat as its last.
// A since older than the history continues from the oldest held tick
// (after = first-1); a since ahead of the feed (a restarted feed) continues live
// (after = last, no ticks).
func (h *History) Since(since uint64, limit int, dst []*Tick) (ticks []*Tick, after uint64, reset bool) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	switch {
	case since > h.last:
		return dst, h.last, true
	case since+1 < h.first:
		since, reset = h.first-1, true
	}
	for seq := since + 1; seq <= h.last && limit > 0; seq++ {
		dst = append(dst, h.buf[seq%uint64(len(h.buf))])
		limit--
	}
	return dst, since, reset
}

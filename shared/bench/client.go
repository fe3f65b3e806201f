package bench

import (
	"context"
	"math"
	"math/bits"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"commlab/shared"
)

// client is one simulated user of a pattern: one connection, or one NATS
// subscription, run by the pattern's own Go client.
type client struct {
	id     int
	dialer *net.Dialer
	stats  shared.ClientStats // the pattern client's own counts: bytes read, requests, dups

	// ready: the client is connected. A client is once its first tick has
	// arrived, which proves the whole path works; a queue worker, which may
	// wait long for its first tick, once the server confirmed its subscription.
	ready atomic.Bool
	// libDups, if set, counts the duplicates a client library skipped when it
	// does not count them into stats.Dups.
	libDups atomic.Pointer[atomic.Uint64]

	received atomic.Uint64 // ticks handed to receive
	last     atomic.Uint64 // the newest seq received
	gaveUp   atomic.Bool   // the pattern client returned before the round ended
	err      error         // why it gave up; read once it has returned

	// Set by the round when the window opens: whether the client was
	// connected then (only those count), and its counters then.
	counted bool
	atOpen  counts

	win  *window
	lat  *latencies
	mu   sync.Mutex // seen is written by the client's goroutine, read by the drain
	seen seqSet
}

// receive is the pattern client's fn: it runs on the client's goroutine for
// every tick, so it only notes the tick and returns.
func (c *client) receive(t shared.Tick) {
	now := time.Now()
	c.mu.Lock()
	first := c.seen.add(t.Seq)
	c.mu.Unlock()
	if t.Seq > c.last.Load() {
		c.last.Store(t.Seq)
	}
	c.received.Add(1)
	if !c.ready.Load() {
		c.ready.Store(true)
	}
	if first && c.win.holds(t.Seq) {
		c.lat.record(c.id, now.Sub(time.UnixMicro(t.TUs)))
	}
}

// counts is what a client's counters read at one moment.
type counts struct {
	bytes, requests, received, dups, reconnects uint64
}

func (c *client) counts() counts {
	n := counts{
		bytes:      c.stats.Bytes.Load(),
		requests:   c.stats.Requests.Load(),
		received:   c.received.Load(),
		dups:       c.stats.Dups.Load(),
		reconnects: c.stats.Reconnects.Load(),
	}
	if d := c.libDups.Load(); d != nil {
		n.dups += d.Load()
	}
	return n
}

func (n counts) minus(m counts) counts {
	return counts{n.bytes - m.bytes, n.requests - m.requests, n.received - m.received, n.dups - m.dups, n.reconnects - m.reconnects}
}

func (n *counts) add(m counts) {
	n.bytes += m.bytes
	n.requests += m.requests
	n.received += m.received
	n.dups += m.dups
	n.reconnects += m.reconnects
}

// inWindow counts the seqs in (from, to] the client received, and how many
// of those it received more than once.
func (c *client) inWindow(from, to uint64) (got, dups uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seen.count(from, to), c.seen.dupsIn(from, to)
}

// window is the measured window, (from, to] in seqs. Until it opens it holds
// nothing; until it closes, every seq after from.
type window struct {
	open     atomic.Bool
	from, to atomic.Uint64
}

func newWindow() *window {
	w := new(window)
	w.to.Store(math.MaxUint64)
	return w
}

func (w *window) start(from uint64) {
	w.from.Store(from)
	w.open.Store(true)
}

func (w *window) end(to uint64) { w.to.Store(to) }

func (w *window) holds(seq uint64) bool {
	return w.open.Load() && seq > w.from.Load() && seq <= w.to.Load()
}

// seqSet is the set of seqs one client received, a bit per seq from the first
// one it saw. Recording every seq, not only the window's, means a tick that
// arrives while the window opens is never lost to the accounts.
type seqSet struct {
	base  uint64   // the seq of bit 0 of words[0]: a multiple of 64
	words []uint64 // grows as seqs arrive
	dups  []uint64 // seqs received again
}

// add records seq and reports whether it is new.
func (s *seqSet) add(seq uint64) bool {
	if len(s.words) == 0 {
		s.base = seq &^ 63
	}
	if seq < s.base { // older than anything so far (a resync): make room in front
		shift := (s.base - seq&^63) / 64
		s.words = append(make([]uint64, shift, shift+uint64(len(s.words))), s.words...)
		s.base -= shift * 64
	}
	i := (seq - s.base) / 64
	for uint64(len(s.words)) <= i {
		s.words = append(s.words, 0)
	}
	bit := uint64(1) << ((seq - s.base) % 64)
	if s.words[i]&bit != 0 {
		s.dups = append(s.dups, seq)
		return false
	}
	s.words[i] |= bit
	return true
}

// count is how many seqs in (from, to] the set holds.
func (s *seqSet) count(from, to uint64) uint64 {
	var n uint64
	for i, w := range s.words {
		lo := s.base + uint64(i)*64 // the seq of this word's bit 0
		if lo+63 <= from || lo > to {
			continue
		}
		for w != 0 {
			b := uint64(bits.TrailingZeros64(w))
			if seq := lo + b; seq > from && seq <= to {
				n++
			}
			w &= w - 1
		}
	}
	return n
}

func (s *seqSet) dupsIn(from, to uint64) uint64 {
	var n uint64
	for _, seq := range s.dups {
		if seq > from && seq <= to {
			n++
		}
	}
	return n
}

// union adds to dst the seqs in (from, to] the set holds, as a bitset
// indexed by seq-from-1.
func (s *seqSet) union(dst []uint64, from, to uint64) {
	for i, w := range s.words {
		lo := s.base + uint64(i)*64
		for w != 0 {
			b := uint64(bits.TrailingZeros64(w))
			if seq := lo + b; seq > from && seq <= to {
				k := seq - from - 1
				dst[k/64] |= 1 << (k % 64)
			}
			w &= w - 1
		}
	}
}

// runClient runs a pattern client until ctx ends and keeps its error, if it
// gave up before then.
func runClient(ctx context.Context, c *client, run func(context.Context, *client) error) {
	err := run(ctx, c)
	if ctx.Err() == nil {
		c.err = err // nil too: a client must not end before its round does
		c.gaveUp.Store(true)
	}
}

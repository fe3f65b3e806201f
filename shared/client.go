package shared

import (
	"context"
	"math/rand/v2"
	"time"
)

// Tracker follows a client's place in the feed and accounts for every seq: each
// one is delivered once, or counted as a gap or a duplicate.
type Tracker struct {
	Last  uint64 // newest seq delivered; a reconnect resumes after it
	stats *ClientStats
}

// NewTracker starts after seq since, counting into stats (nil: not counted).
func NewTracker(since uint64, stats *ClientStats) *Tracker {
	if stats == nil {
		stats = new(ClientStats)
	}
	return &Tracker{Last: since, stats: stats}
}

// Accept reports whether a tick with this seq should be delivered: false for a
// duplicate. A jump forward is delivered and its skipped seqs counted as gaps.
func (tr *Tracker) Accept(seq uint64) bool {
	switch {
	case tr.Last != 0 && seq <= tr.Last:
		tr.stats.Dups.Add(1)
		return false
	case tr.Last != 0 && seq > tr.Last+1:
		tr.stats.Gaps.Add(seq - tr.Last - 1)
	}
	tr.Last = seq
	tr.stats.Messages.Add(1)
	return true
}

// Reset handles the server's reset control: the stream goes on after next. Seqs
// between the client's last and next were lost and count as gaps; a next behind
// the client's last (a restarted feed) starts the count afresh.
func (tr *Tracker) Reset(next uint64) {
	tr.stats.Resets.Add(1)
	if tr.Last != 0 && next > tr.Last {
		tr.stats.Gaps.Add(next - tr.Last)
	}
	tr.Last = next
}

// Backoff spaces out reconnect attempts: exponential growth from Min to Max with
// full jitter, so a thousand clients cut off at once do not return at once. The
// zero value waits up to 100 ms, doubling to at most 5 s.
type Backoff struct {
	Min, Max time.Duration
	attempt  int
}

// Next returns how long to wait before the next attempt.
func (b *Backoff) Next() time.Duration {
	lo, hi := b.Min, b.Max
	if lo <= 0 {
		lo = 100 * time.Millisecond
	}
	if hi < lo {
		hi = max(lo, 5*time.Second)
	}
	ceiling := lo
	for range b.attempt {
		if ceiling >= hi/2 {
			ceiling = hi
			break
		}
		ceiling *= 2
	}
	b.attempt++
	return time.Duration(rand.Int64N(int64(ceiling)) + 1)
}

// Reset starts over after a connection that worked.
func (b *Backoff) Reset() { b.attempt = 0 }

// Sleep waits d or until ctx ends, and returns ctx.Err() in the latter case.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

package natspubsub

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Stats counts what one subscriber sees. Subscribe writes the counters while
// the demo's summary and /api/stats read them, so they are atomics.
//
// Each tick published while a subscriber on ticks.> is subscribed is either
// received, dropped by its client library, still pending when it stops, or
// lost on the way (published while the connection was down). Gaps counts the
// missing seqs between received ones, whichever the cause: for a subscriber
// that stays connected, every gap is a drop.
type Stats struct {
	Subscribed         atomic.Bool   // true while the server has the subscription and Subscribe runs
	Received           atomic.Uint64 // ticks handed to fn
	Invalid            atomic.Uint64 // messages that were not ticks, skipped
	Dups               atomic.Uint64 // ticks whose seq was already handed to fn, skipped (SeesEveryTick subjects only)
	Gaps               atomic.Uint64 // seqs skipped over between two ticks handed to fn (SeesEveryTick subjects only)
	Dropped            atomic.Uint64 // messages the client library dropped: the pending queue was full (sub.Dropped)
	Pending            atomic.Int64  // messages waiting in the client library, as last seen between messages; at the end, those never read
	SlowConsumerEvents atomic.Uint64 // ErrSlowConsumer reports, once per episode (needs ErrorHandler)
	LastSeq            atomic.Uint64 // seq of the newest tick handed to fn

	latency latencyWindow // from the feed's t_us to the moment Subscribe took the message
}

// StatsSnapshot is a subscriber's counters at one moment, as /api/stats shows
// them.
type StatsSnapshot struct {
	Subscribed         bool    `json:"subscribed"`
	Received           uint64  `json:"received"`
	Invalid            uint64  `json:"invalid"`
	Dups               uint64  `json:"dups"`
	Gaps               uint64  `json:"gaps"`
	Dropped            uint64  `json:"dropped"`
	Pending            int64   `json:"pending"`
	SlowConsumerEvents uint64  `json:"slow_consumer_events"`
	LastSeq            uint64  `json:"last_seq"`
	LatencyP50Ms       float64 `json:"latency_p50_ms"` // over the last latencyWindowSize ticks
	LatencyP99Ms       float64 `json:"latency_p99_ms"`
}

// Snapshot reads the counters.
func (s *Stats) Snapshot() StatsSnapshot {
	p50, p99 := s.latency.percentiles()
	return StatsSnapshot{
		Subscribed:         s.Subscribed.Load(),
		Received:           s.Received.Load(),
		Invalid:            s.Invalid.Load(),
		Dups:               s.Dups.Load(),
		Gaps:               s.Gaps.Load(),
		Dropped:            s.Dropped.Load(),
		Pending:            s.Pending.Load(),
		SlowConsumerEvents: s.SlowConsumerEvents.Load(),
		LastSeq:            s.LastSeq.Load(),
		LatencyP50Ms:       ms(p50),
		LatencyP99Ms:       ms(p99),
	}
}

// Latency returns the median and 99th percentile latency of the recent ticks.
func (s *Stats) Latency() (p50, p99 time.Duration) { return s.latency.percentiles() }

// latencyWindowSize is how many recent latencies the percentiles are taken
// over: enough for a steady p99, recent enough to show a subscriber falling
// behind within seconds.
const latencyWindowSize = 1024

// latencyWindow keeps the latest latencies in a ring.
type latencyWindow struct {
	mu      sync.Mutex
	samples []time.Duration
	next    int
}

func (w *latencyWindow) add(d time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.samples) < latencyWindowSize {
		w.samples = append(w.samples, d)
		return
	}
	w.samples[w.next] = d
	w.next = (w.next + 1) % latencyWindowSize
}

func (w *latencyWindow) percentiles() (p50, p99 time.Duration) {
	w.mu.Lock()
	sorted := slices.Clone(w.samples)
	w.mu.Unlock()
	if len(sorted) == 0 {
		return 0, 0
	}
	slices.Sort(sorted)
	return sorted[len(sorted)*50/100], sorted[len(sorted)*99/100]
}

// ms converts a duration to milliseconds with microsecond precision.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

package bench

import (
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Latencies are recorded in microseconds, from 1 µs to a minute, to 3
// significant digits: a p99 of 12.3 ms is told from one of 12.4 ms.
const (
	latencyMin    = 1
	latencyMax    = int64(time.Minute / time.Microsecond)
	latencyDigits = 3
)

// latencies is a latency histogram that thousands of clients write at once.
// One histogram behind one lock would make every tick of every client wait
// for the same lock; one histogram per client would cost 10,000 x ~100 KiB.
// So clients share a few shards, client i writing to shard i mod len(shards),
// and the shards are merged when the round is over.
type latencies struct {
	shards []shard
}

type shard struct {
	mu sync.Mutex
	h  *hdrhistogram.Histogram
	_  [40]byte // keep neighbouring shards' locks off one cache line
}

// newLatencies gives up to 32 clients a shard each; more clients share them.
func newLatencies(clients int) *latencies {
	l := &latencies{shards: make([]shard, min(clients, 32))}
	for i := range l.shards {
		l.shards[i].h = hdrhistogram.New(latencyMin, latencyMax, latencyDigits)
	}
	return l
}

// record adds one latency to client's shard. A negative latency (the server's
// clock ahead of ours) counts as the smallest, one past the range as the largest.
func (l *latencies) record(client int, d time.Duration) {
	us := min(max(d.Microseconds(), latencyMin), latencyMax)
	s := &l.shards[client%len(l.shards)]
	s.mu.Lock()
	_ = s.h.RecordValue(us) // cannot fail: us is within the range
	s.mu.Unlock()
}

// merged sums the shards into one histogram.
func (l *latencies) merged() *hdrhistogram.Histogram {
	all := hdrhistogram.New(latencyMin, latencyMax, latencyDigits)
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		all.Merge(s.h)
		s.mu.Unlock()
	}
	return all
}

// summary is a histogram's percentiles in milliseconds.
type summary struct {
	samples             int64
	p50, p90, p99, maxv float64
}

func summarize(h *hdrhistogram.Histogram) summary {
	ms := func(us int64) float64 { return float64(us) / 1000 }
	return summary{
		samples: h.TotalCount(),
		p50:     ms(h.ValueAtQuantile(50)),
		p90:     ms(h.ValueAtQuantile(90)),
		p99:     ms(h.ValueAtQuantile(99)),
		maxv:    ms(h.Max()),
	}
}

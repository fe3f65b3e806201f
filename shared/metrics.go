package shared

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// PatternStats counts what one pattern's server side does. The counters are plain
// atomics on the hot path; /api/stats and /metrics both read them, so the two
// views always agree.
type PatternStats struct {
	Name string

	Clients         atomic.Int64  // connected now (streams) or requests in flight (polling)
	Connections     atomic.Uint64 // connections accepted over time
	Requests        atomic.Uint64 // HTTP requests served
	Messages        atomic.Uint64 // ticks sent, summed over clients
	Bytes           atomic.Uint64 // bytes written on the wire: headers, framing and payload
	SlowDisconnects atomic.Uint64 // clients cut off because their queue was full
	Drops           atomic.Uint64 // ticks discarded when a slow client was cut off (it resumes to get them)
	Disconnects     atomic.Uint64 // connections ended for any reason
	BadInput        atomic.Uint64 // requests or frames rejected as malformed

	badInput *prometheus.CounterVec
	latency  prometheus.Observer
}

// Bad counts one rejected request or frame, with a short stable reason such as
// "since" or "unknown_op" that becomes a Prometheus label.
func (p *PatternStats) Bad(reason string) {
	p.BadInput.Add(1)
	p.badInput.WithLabelValues(p.Name, reason).Inc()
}

// ObserveLatency records feed-to-write latency of a tick written at now.
func (p *PatternStats) ObserveLatency(t *Tick, now time.Time) {
	p.latency.Observe(float64(now.UnixMicro()-t.TUs) / 1e6)
}

// PatternSnapshot is one pattern's counters at one moment, as /api/stats shows it.
type PatternSnapshot struct {
	Clients         int64  `json:"clients"`
	Connections     uint64 `json:"connections"`
	Requests        uint64 `json:"requests"`
	Messages        uint64 `json:"messages"`
	Bytes           uint64 `json:"bytes"`
	SlowDisconnects uint64 `json:"slow_disconnects"`
	Drops           uint64 `json:"drops"`
	Disconnects     uint64 `json:"disconnects"`
	BadInput        uint64 `json:"bad_input"`
}

// Snapshot reads the counters.
func (p *PatternStats) Snapshot() PatternSnapshot {
	return PatternSnapshot{
		Clients:         p.Clients.Load(),
		Connections:     p.Connections.Load(),
		Requests:        p.Requests.Load(),
		Messages:        p.Messages.Load(),
		Bytes:           p.Bytes.Load(),
		SlowDisconnects: p.SlowDisconnects.Load(),
		Drops:           p.Drops.Load(),
		Disconnects:     p.Disconnects.Load(),
		BadInput:        p.BadInput.Load(),
	}
}

// Metrics owns the lab's Prometheus registry and the stats of every pattern.
type Metrics struct {
	Registry *prometheus.Registry

	mu       sync.Mutex
	patterns map[string]*PatternStats
	badInput *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

// NewMetrics returns a registry with the Go runtime and process collectors (the
// bench reads the server's CPU and memory from them) and the lab's own metrics.
func NewMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		patterns: make(map[string]*PatternStats),
		badInput: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "commlab_bad_input_total",
			Help: "Requests, frames or messages rejected as malformed, by pattern and reason.",
		}, []string{"pattern", "reason"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "commlab_delivery_latency_seconds",
			Help:    "Time from the feed producing a tick to the server writing it to a client.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16), // 0.1 ms .. 3.3 s
		}, []string{"pattern"}),
	}
	m.Registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.badInput, m.latency, patternCollector{m},
	)
	return m
}

// Pattern returns the stats of the named pattern, creating them on first use.
func (m *Metrics) Pattern(name string) *PatternStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	if p, ok := m.patterns[name]; ok {
		return p
	}
	p := &PatternStats{Name: name, badInput: m.badInput, latency: m.latency.WithLabelValues(name)}
	m.patterns[name] = p
	return p
}

// Snapshot returns every pattern's counters, keyed by pattern name.
func (m *Metrics) Snapshot() map[string]PatternSnapshot {
	out := make(map[string]PatternSnapshot)
	for _, p := range m.sorted() {
		out[p.Name] = p.Snapshot()
	}
	return out
}

func (m *Metrics) sorted() []*PatternStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	ps := make([]*PatternStats, 0, len(m.patterns))
	for _, p := range m.patterns {
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].Name < ps[j].Name })
	return ps
}

// patternCollector exposes the PatternStats atomics to Prometheus at scrape time.
type patternCollector struct{ m *Metrics }

var patternDescs = []struct {
	desc  *prometheus.Desc
	kind  prometheus.ValueType
	value func(PatternSnapshot) float64
}{
	{desc("clients", "Clients connected now (streams) or requests in flight (polling)."), prometheus.GaugeValue, func(s PatternSnapshot) float64 { return float64(s.Clients) }},
	{desc("connections_total", "Connections accepted."), prometheus.CounterValue, func(s PatternSnapshot) float64 { return float64(s.Connections) }},
	{desc("requests_total", "HTTP requests served."), prometheus.CounterValue, func(s PatternSnapshot) float64 { return float64(s.Requests) }},
	{desc("messages_sent_total", "Ticks sent, summed over clients."), prometheus.CounterValue, func(s PatternSnapshot) float64 { return float64(s.Messages) }},
	{desc("bytes_sent_total", "Bytes written on the wire, headers and framing included."), prometheus.CounterValue, func(s PatternSnapshot) float64 { return float64(s.Bytes) }},
	{desc("slow_disconnects_total", "Clients cut off because they fell behind."), prometheus.CounterValue, func(s PatternSnapshot) float64 { return float64(s.SlowDisconnects) }},
	{desc("drops_total", "Ticks discarded when a slow client was cut off."), prometheus.CounterValue, func(s PatternSnapshot) float64 { return float64(s.Drops) }},
	{desc("disconnects_total", "Connections ended, for any reason."), prometheus.CounterValue, func(s PatternSnapshot) float64 { return float64(s.Disconnects) }},
}

func desc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc("commlab_"+name, help, []string{"pattern"}, nil)
}

func (c patternCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range patternDescs {
		ch <- d.desc
	}
}

func (c patternCollector) Collect(ch chan<- prometheus.Metric) {
	for _, p := range c.m.sorted() {
		s := p.Snapshot()
		for _, d := range patternDescs {
			ch <- prometheus.MustNewConstMetric(d.desc, d.kind, d.value(s), p.Name)
		}
	}
}

package shared_test

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"commlab/shared"
)

// scrape returns m's /metrics text as Prometheus would read it.
func scrape(t *testing.T, m *shared.Metrics) string {
	t.Helper()
	srv := httptest.NewServer(promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{ErrorHandling: promhttp.PanicOnError}))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("scrape: status %d: %s", resp.StatusCode, b)
	}
	return string(b)
}

func wantLines(t *testing.T, text string, lines ...string) {
	t.Helper()
	have := make(map[string]bool)
	for _, l := range strings.Split(text, "\n") {
		have[l] = true
	}
	for _, l := range lines {
		if !have[l] {
			t.Errorf("/metrics lacks line %q", l)
		}
	}
}

func TestMetricsPatternIsIdempotent(t *testing.T) {
	m := shared.NewMetrics()
	a, b := m.Pattern("sse"), m.Pattern("sse")
	if a != b {
		t.Fatal("Pattern(sse) twice returned different stats, want the same")
	}
	if a.Name != "sse" {
		t.Errorf("Name = %q, want sse", a.Name)
	}
	if m.Pattern("ws") == a {
		t.Error("Pattern(ws) returned sse's stats")
	}
}

func TestMetricsPatternCounters(t *testing.T) {
	m := shared.NewMetrics()
	p := m.Pattern("x")
	p.Clients.Add(3)
	p.Clients.Add(-1)
	p.Connections.Add(4)
	p.Requests.Add(5)
	p.Messages.Add(6)
	p.Bytes.Add(7000)
	p.SlowDisconnects.Add(1)
	p.Disconnects.Add(2)
	m.Pattern("empty")

	wantLines(t, scrape(t, m),
		`commlab_clients{pattern="x"} 2`,
		`commlab_connections_total{pattern="x"} 4`,
		`commlab_requests_total{pattern="x"} 5`,
		`commlab_messages_sent_total{pattern="x"} 6`,
		`commlab_bytes_sent_total{pattern="x"} 7000`,
		`commlab_slow_disconnects_total{pattern="x"} 1`,
		`commlab_disconnects_total{pattern="x"} 2`,
		`commlab_messages_sent_total{pattern="empty"} 0`,
		`# TYPE commlab_clients gauge`,
		`# TYPE commlab_messages_sent_total counter`,
	)

	want := shared.PatternSnapshot{Clients: 2, Connections: 4, Requests: 5, Messages: 6, Bytes: 7000, SlowDisconnects: 1, Disconnects: 2}
	if got := p.Snapshot(); got != want {
		t.Errorf("Snapshot = %+v, want %+v", got, want)
	}
	snap := m.Snapshot()
	if len(snap) != 2 || snap["x"] != want || snap["empty"] != (shared.PatternSnapshot{}) {
		t.Errorf("Metrics.Snapshot = %+v, want x: %+v and empty: zero", snap, want)
	}
}

func TestMetricsBad(t *testing.T) {
	m := shared.NewMetrics()
	p := m.Pattern("poll")
	p.Bad("since")
	p.Bad("since")
	p.Bad("limit")
	m.Pattern("ws").Bad("unknown_op")

	if got := p.BadInput.Load(); got != 3 {
		t.Errorf("BadInput = %d, want 3", got)
	}
	if got := m.Snapshot()["poll"].BadInput; got != 3 {
		t.Errorf("Snapshot BadInput = %d, want 3", got)
	}
	wantLines(t, scrape(t, m),
		`commlab_bad_input_total{pattern="poll",reason="since"} 2`,
		`commlab_bad_input_total{pattern="poll",reason="limit"} 1`,
		`commlab_bad_input_total{pattern="ws",reason="unknown_op"} 1`,
	)
}

func TestMetricsLatency(t *testing.T) {
	m := shared.NewMetrics()
	p := m.Pattern("sse")
	produced := time.UnixMicro(1764122400000000)
	tk := &shared.Tick{Seq: 1, Symbol: "ACME", Price: 1, TUs: produced.UnixMicro()}
	p.ObserveLatency(tk, produced.Add(3*time.Millisecond))
	p.ObserveLatency(tk, produced.Add(5*time.Second)) // beyond the largest bucket

	wantLines(t, scrape(t, m),
		`commlab_delivery_latency_seconds_count{pattern="sse"} 2`,
		`commlab_delivery_latency_seconds_sum{pattern="sse"} 5.003`,
		`commlab_delivery_latency_seconds_bucket{pattern="sse",le="0.0032"} 1`,
		`commlab_delivery_latency_seconds_bucket{pattern="sse",le="+Inf"} 2`,
	)
}

func TestMetricsRuntimeCollectors(t *testing.T) {
	text := scrape(t, shared.NewMetrics())
	for _, name := range []string{"process_cpu_seconds_total", "process_resident_memory_bytes", "go_goroutines", "go_memstats_alloc_bytes"} {
		if !strings.Contains(text, "\n"+name+" ") {
			t.Errorf("/metrics lacks %s", name)
		}
	}
}

// TestMetricsConcurrent reads and writes the counters from several goroutines
// while scraping; under -race it proves the hot path needs no lock.
func TestMetricsConcurrent(t *testing.T) {
	m := shared.NewMetrics()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 1000 {
			p := m.Pattern([]string{"a", "b", "c"}[i%3])
			p.Messages.Add(1)
			p.Bad("x")
		}
	}()
	for range 5 {
		scrape(t, m)
		m.Snapshot()
	}
	<-done
	var total uint64
	for _, s := range m.Snapshot() {
		total += s.Messages
	}
	if total != 1000 {
		t.Errorf("messages summed over patterns = %d, want 1000", total)
	}
}

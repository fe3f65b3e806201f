package natsqueue

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"commlab/shared/labtest"
)

// TestRunWorker runs workers the way `commlab worker` does, each on a
// connection its caller owns: a JetStream worker started before the streams
// exist waits for them, and both kinds process the ticks that follow.
func TestRunWorker(t *testing.T) {
	lab := labtest.Start(t, nil)
	logs := newLogCounter()
	log := slog.New(logs)
	ctx, cancel := context.WithCancel(context.Background())

	type running struct {
		nc   *nats.Conn
		done chan error
	}
	var workers []running
	for _, w := range []struct {
		kind Kind
		name string
	}{{Core, "c1"}, {Core, "c2"}, {JetStream, "j1"}} {
		nc, err := lab.Broker.Connect(w.name)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		r := running{nc: nc, done: make(chan error, 1)}
		go func() {
			r.done <- RunWorker(ctx, nc, w.kind, w.name, &WorkerOptions{WorkTime: time.Millisecond, Log: log})
		}()
		workers = append(workers, r)
	}
	labtest.WaitFor(t, "the JetStream worker to wait for its consumer", func() bool {
		return logs.count("queue worker: waiting for the consumer", "") > 0
	})
	labtest.WaitFor(t, "both core workers to join the group", func() bool {
		return logs.count("queue worker started", "") == 2
	})

	setupCtx, setupCancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer setupCancel()
	if err := SetupStreams(setupCtx, lab.NC, &StreamOptions{AckWait: testAckWait}); err != nil {
		t.Fatal(err)
	}
	pub, err := NewPublisher(lab.NC, nil)
	if err != nil {
		t.Fatal(err)
	}
	lab.Feed.AlsoPublish(pub.Publish)
	const n = 20
	lab.Publish(t, n)
	// The core group shares the ticks: each goes to c1 or c2, exactly once.
	// The JetStream worker processes every tick at least once: on a busy
	// machine a tick can outwait AckWait in its client and come round again.
	labtest.WaitFor(t, "every tick processed by each kind", func() bool {
		return logs.count("queue worker: processed", "c1")+logs.count("queue worker: processed", "c2") == n &&
			logs.count("queue worker: processed", "j1") >= n
	})
	// A worker logs "processed" before it acks, and only the ack deletes the
	// tick: the stream empties a moment later.
	labtest.WaitFor(t, StreamName+" to be empty", func() bool {
		msgs, _, _ := streamState(t, lab.NC)
		return msgs == 0
	})
	if got := logs.count("queue worker: processed", "c1") + logs.count("queue worker: processed", "c2"); got != n {
		t.Errorf("got %d ticks processed by the core workers, want %d", got, n)
	}

	cancel()
	for _, w := range workers {
		if err := <-w.done; err != nil {
			t.Errorf("RunWorker returned %v after cancel, want nil", err)
		}
		if !w.nc.IsConnected() {
			t.Error("RunWorker closed its caller's connection")
		}
	}
}

func TestRunWorkerBadKind(t *testing.T) {
	if err := RunWorker(t.Context(), nil, Kind("both"), "x", nil); err == nil {
		t.Error("got nil error for kind \"both\", want one")
	}
}

func TestParseKind(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Kind
		ok   bool
	}{{"core", Core, true}, {"jetstream", JetStream, true}, {"JetStream", "", false}, {"", "", false}} {
		got, err := ParseKind(tc.in)
		if got != tc.want || (err == nil) != tc.ok {
			t.Errorf("ParseKind(%q) = %q, %v; want %q, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

// logCounter is a slog.Handler that counts records by message and worker.
type logCounter struct {
	c     *logCounts // shared by the handlers WithAttrs derives
	attrs []slog.Attr
}

type logCounts struct {
	mu     sync.Mutex
	counts map[string]int // message + "|" + worker
}

func newLogCounter() *logCounter {
	return &logCounter{c: &logCounts{counts: make(map[string]int)}}
}

func (h *logCounter) Enabled(context.Context, slog.Level) bool { return true }

func (h *logCounter) Handle(_ context.Context, r slog.Record) error {
	worker := ""
	for _, a := range h.attrs {
		if a.Key == "worker" {
			worker = a.Value.String()
		}
	}
	h.c.mu.Lock()
	defer h.c.mu.Unlock()
	h.c.counts[r.Message+"|"+worker]++
	if worker != "" {
		h.c.counts[r.Message+"|"]++
	}
	return nil
}

func (h *logCounter) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &logCounter{c: h.c, attrs: append(append([]slog.Attr(nil), h.attrs...), attrs...)}
}

func (h *logCounter) WithGroup(string) slog.Handler { return h }

// count returns how often msg was logged by worker ("": by anyone).
func (h *logCounter) count(msg, worker string) int {
	h.c.mu.Lock()
	defer h.c.mu.Unlock()
	return h.c.counts[msg+"|"+worker]
}

package natsqueue

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"commlab/shared"
	"commlab/shared/labtest"
)

// TestRestartKeepsUnackedWork publishes while no JetStream worker consumes,
// shuts the broker down, starts a new one on the same data directory (as
// `commlab --data DIR` does after a restart) and only then starts workers:
// every tick stored before the restart is processed after it.
func TestRestartKeepsUnackedWork(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const n = 50

	// First life: a feed publishing to the work queue; no worker at all.
	b1 := startBroker(t, dir)
	nc1, err := b1.Connect("feed")
	if err != nil {
		t.Fatal(err)
	}
	if err := SetupStreams(ctx, nc1, &StreamOptions{AckWait: testAckWait}); err != nil {
		t.Fatal(err)
	}
	pub, err := NewPublisher(nc1, nil)
	if err != nil {
		t.Fatal(err)
	}
	feed, err := shared.NewFeed(nc1, labtest.Seed, shared.DefaultSymbols, 0)
	if err != nil {
		t.Fatal(err)
	}
	feed.AlsoPublish(pub.Publish)
	for range n {
		if _, err := feed.Publish(); err != nil {
			t.Fatal(err)
		}
	}
	if err := pub.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := pub.Stats(); got.Acked != n {
		t.Fatalf("got publisher %+v, want %d acked before the restart", got, n)
	}
	nc1.Close()
	b1.Close()

	// Second life: same data directory, a new broker on a new port.
	b2 := startBroker(t, dir)
	nc2, err := b2.Connect("setup")
	if err != nil {
		t.Fatal(err)
	}
	defer nc2.Close()
	if msgs, _, _ := streamState(t, nc2); msgs != n {
		t.Fatalf("got %d msgs in %s after the restart, want %d", msgs, StreamName, n)
	}
	if err := SetupStreams(ctx, nc2, &StreamOptions{AckWait: testAckWait}); err != nil { // the lab does this at every start
		t.Fatal(err)
	}
	p, err := StartPool(ctx, b2.Connect,
		&PoolOptions{JetStream: 2, Worker: WorkerOptions{WorkTime: time.Millisecond}, Log: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer closePool(t, p)
	snap := waitSnapshot(t, p, "the stored ticks processed", func(s Snapshot) bool {
		return s.JetStream.Processed == n && s.JetStream.InStream == 0 && s.JetStream.Pending == 0
	})
	// At-least-once: a tick may be done twice (its ack outran by AckWait on a
	// busy machine), but only after a redelivery.
	if j := snap.JetStream; j.Backlog != n || j.Published != 0 || j.Duplicates > j.Redelivered {
		t.Errorf("got jetstream %+v, want a backlog of %d, nothing new published, no duplicate without a redelivery", j, n)
	}
}

func startBroker(t *testing.T, dir string) *shared.Broker {
	t.Helper()
	b, err := shared.StartBroker(shared.BrokerConfig{Listen: "127.0.0.1:0", DataDir: dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

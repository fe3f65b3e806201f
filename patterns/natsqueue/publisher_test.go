package natsqueue

import (
	"context"
	"testing"
	"time"

	"commlab/shared"
	"commlab/shared/labtest"
)

// TestPublisherOnePublishFeedsBoth checks that one publish per tick reaches
// the core queue group and the stream alike, and that acked means stored.
func TestPublisherOnePublishFeedsBoth(t *testing.T) {
	tl := startLab(t)
	p := startPool(t, tl, PoolOptions{Core: 1, Worker: WorkerOptions{WorkTime: time.Millisecond}})
	const n = 20
	tl.publish(t, n)
	if got := tl.pub.Stats(); got != (PublisherStats{Published: n, Acked: n}) {
		t.Errorf("got publisher %+v, want %d published and acked, nothing else", got, n)
	}
	waitSnapshot(t, p, "the core worker to get them", func(s Snapshot) bool { return s.Core.Processed == n })
	if msgs, _, pending := streamState(t, tl.NC); msgs != n || pending != n {
		t.Errorf("got %s holding %d msgs, %d pending; want %d and %d (no JetStream worker runs)", StreamName, msgs, pending, n, n)
	}
}

// TestPublisherBackpressure checks what happens when the stream does not
// answer: the publisher never returns an error and never waits, it counts the
// failure, and once MaxPending acks are outstanding it skips ticks.
func TestPublisherBackpressure(t *testing.T) {
	lab := labtest.Start(t, nil) // no SetupStreams: nothing stores work.ticks, so no ack will come
	pub, err := NewPublisher(lab.NC, &PublisherOptions{MaxPending: 1, Log: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	tick := shared.Tick{Seq: 1, Symbol: "ACME", Price: 1, TUs: 1}
	tick.Encode()

	start := time.Now()
	for range 6 {
		if err := pub.Publish(tick); err != nil {
			t.Fatalf("Publish returned %v, want nil: an error would stop the feed", err)
		}
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("6 publishes took %v; the publisher must not hold the feed up", took)
	}
	// The first publish waits for its ack (the client retries "no responders"
	// for half a second); the other five find no room.
	if got := pub.Stats(); got.Published != 1 || got.Skipped != 5 || got.Pending != 1 {
		t.Errorf("got %+v, want 1 published and pending, 5 skipped", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := pub.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := pub.Stats(); got != (PublisherStats{Published: 1, Failed: 1, Skipped: 5}) {
		t.Errorf("got %+v after the ack wait, want 1 published and failed, 5 skipped", got)
	}
}

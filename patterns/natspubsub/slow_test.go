package natspubsub

import (
	"bytes"
	"testing"
	"time"

	"commlab/shared/labtest"
)

// TestSlowConsumer puts a slow subscriber (room for 10 messages, 20 ms of work
// each: 50 a second at best) beside a normal one, and publishes two bursts of
// 250 ticks as fast as the feed can. The slow one's client library drops what
// does not fit and reports it; the normal one and the feed do not notice.
func TestSlowConsumer(t *testing.T) {
	const burst, ticks = 250, 500
	lab := labtest.Start(t, nil)
	slow := startSubscriber(t, lab, "ticks.>", Options{PendingMsgs: 10, Delay: 20 * time.Millisecond})
	normal := startSubscriber(t, lab, "ticks.>", Options{})

	for round := 1; round <= ticks/burst; round++ {
		// Publish returns once the burst is published and the gateway holds
		// it: the publisher never waited for the slow subscriber.
		if got := len(lab.Publish(t, burst)); got != burst {
			t.Fatalf("published %d ticks, want %d", got, burst)
		}
		// Each tick reached the slow subscriber's library, which either queued
		// it (and Subscribe took it, in time) or dropped it. Waiting for the
		// queue to drain before the next burst makes the second burst's first
		// ticks arrive after a run of dropped ones: gaps.
		labtest.WaitFor(t, "the slow subscriber to account for every tick", func() bool {
			return slow.stats.Received.Load()+slow.stats.Dropped.Load() == uint64(round*burst)
		})
	}
	want := held(t, lab, ticks)

	normal.expect(t, want)
	if got, want := countsOf(normal.stats), (counts{Received: ticks, LastSeq: ticks}); got != want {
		t.Errorf("normal subscriber: got counts %+v, want %+v", got, want)
	}

	got := countsOf(slow.stats)
	t.Logf("slow subscriber: %+v", got)
	if got.Dropped == 0 || got.Gaps == 0 {
		t.Fatalf("got dropped %d, gaps %d; want both above 0", got.Dropped, got.Gaps)
	}
	// Every dropped seq is a gap before its last tick, or came after it.
	if got.Gaps+(ticks-got.LastSeq) != got.Dropped {
		t.Errorf("got gaps %d + %d after the last seq %d, want dropped %d", got.Gaps, ticks-got.LastSeq, got.LastSeq, got.Dropped)
	}
	if got.Dups != 0 || got.Invalid != 0 {
		t.Errorf("got dups %d, invalid %d; want 0, 0", got.Dups, got.Invalid)
	}
	// What it did get, it got in order, with the feed's bytes.
	var last uint64
	for range got.Received {
		tk := slow.next(t)
		if tk.Seq <= last || !bytes.Equal(tk.Raw, want[tk.Seq-1].Raw) {
			t.Fatalf("got seq %d (%s) after %d, want a later seq with the feed's bytes %s", tk.Seq, tk.Raw, last, want[tk.Seq-1].Raw)
		}
		last = tk.Seq
	}

	// The library reports the episode to the connection's error handler, on
	// its own goroutine, a moment after the drop.
	labtest.WaitFor(t, "a slow-consumer report", func() bool { return slow.stats.SlowConsumerEvents.Load() >= 1 })
	if got := normal.stats.SlowConsumerEvents.Load(); got != 0 {
		t.Errorf("normal subscriber: got %d slow-consumer reports, want 0", got)
	}
	if got := slow.stats.Pending.Load(); got != 0 {
		t.Errorf("slow subscriber: got %d pending after it caught up, want 0", got)
	}
}

// TestSlowSubscriberWithRoom shows the other side of the trade: a subscriber
// just as slow, with a queue deep enough for the whole burst, loses nothing.
// It pays in latency and memory instead.
func TestSlowSubscriberWithRoom(t *testing.T) {
	const ticks = 200
	lab := labtest.Start(t, nil)
	s := startSubscriber(t, lab, "ticks.>", Options{PendingMsgs: ticks, Delay: time.Millisecond})
	lab.Publish(t, ticks)
	s.expect(t, held(t, lab, ticks))
	if got, want := countsOf(s.stats), (counts{Received: ticks, LastSeq: ticks}); got != want {
		t.Errorf("got counts %+v, want %+v", got, want)
	}
	if p50, _ := s.stats.Latency(); p50 < 10*time.Millisecond {
		t.Errorf("got p50 latency %v, want the queueing to show (at least 10ms)", p50)
	}
}

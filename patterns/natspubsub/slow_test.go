package natspubsub

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"commlab/shared"
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
// with a queue deep enough for the whole burst loses nothing, however far
// behind it falls. It pays in memory and latency instead: the burst waits in
// its client library until it gets to it.
//
// The subscriber stalls on its first tick until the whole burst has reached
// its connection, as a subscriber slower than any burst would. A fence
// message, on a subscription of its own on the same connection, says when:
// the server delivers one publisher's messages to a connection in order, and
// the library queues each before it reads the next.
func TestSlowSubscriberWithRoom(t *testing.T) {
	const ticks = 200
	lab := labtest.Start(t, nil)
	stats := new(Stats)
	release := make(chan struct{})
	var releaseOnce sync.Once
	open := func() { releaseOnce.Do(func() { close(release) }) }
	pendingAtSecond := make(chan int64, 1)
	s := startHeldSubscriber(t, lab, "ticks.>", Options{PendingMsgs: ticks, Stats: stats}, func(tk shared.Tick) {
		switch tk.Seq {
		case 1:
			<-release
		case 2:
			// Subscribe reads the queue's depth between messages, after
			// taking this one: what was still waiting behind it.
			pendingAtSecond <- stats.Pending.Load()
		}
	})
	t.Cleanup(open) // before the subscriber's own cleanup, which waits for it

	fenced := make(chan struct{})
	fence, err := s.nc.Subscribe("fence", func(*nats.Msg) { close(fenced) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fence.Unsubscribe() })
	if err := s.nc.Flush(); err != nil {
		t.Fatal(err)
	}

	lab.Publish(t, ticks)
	if err := lab.NC.Publish("fence", nil); err != nil {
		t.Fatal(err)
	}
	select {
	case <-fenced:
	case <-time.After(10 * time.Second):
		t.Fatal("the fence did not arrive within 10s")
	}
	open()

	s.expect(t, held(t, lab, ticks))
	if got, want := countsOf(stats), (counts{Received: ticks, LastSeq: ticks}); got != want {
		t.Errorf("got counts %+v, want %+v", got, want)
	}
	// Everything but the tick in hand and the one just taken was waiting.
	if got := <-pendingAtSecond; got != ticks-2 {
		t.Errorf("got %d ticks pending behind the second, want the rest of the burst, %d", got, ticks-2)
	}
	if got := stats.SlowConsumerEvents.Load(); got != 0 {
		t.Errorf("got %d slow-consumer reports, want 0", got)
	}
}

// TestSlowSubscriberPace plays "Try this" 2 and 3 in rounds instead of
// seconds, so that every count is exact: each round the feed publishes some
// ticks, then the subscriber handles some, with room for a fixed number
// waiting in its client library. The subscriber is held in fn until the test
// lets it go, one tick at a time.
//
// Faster than the subscriber, with little room: once the queue is full, the
// library drops the difference every round (10), and what waits stays put.
// Round 1 fills it; round 2 drops one fewer, because the tick in the
// subscriber's hand has left the queue. Slower than the subscriber: nothing
// waits, nothing is dropped. Faster, with room for everything: nothing is
// dropped, and what waits grows by the difference every round.
func TestSlowSubscriberPace(t *testing.T) {
	const rounds = 5
	tests := []struct {
		name                  string
		publish, handle, room int
		wantDropped           [rounds]uint64 // after each round
		wantWaiting           [rounds]uint64 // published - handled - dropped: in the queue or in the subscriber's hand
	}{
		{"feed twice as fast, room for 20", 20, 10, 20,
			[rounds]uint64{0, 9, 19, 29, 39}, [rounds]uint64{10, 11, 11, 11, 11}},
		{"feed half as fast, room for 20", 5, 10, 20,
			[rounds]uint64{0, 0, 0, 0, 0}, [rounds]uint64{0, 0, 0, 0, 0}},
		{"feed twice as fast, room for 100,000", 20, 10, 100_000,
			[rounds]uint64{0, 0, 0, 0, 0}, [rounds]uint64{10, 20, 30, 40, 50}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lab := labtest.Start(t, nil)
			stats := new(Stats)
			next, stop := make(chan struct{}), make(chan struct{})
			s := startHeldSubscriber(t, lab, "ticks.>", Options{PendingMsgs: tc.room, Stats: stats}, func(shared.Tick) {
				select {
				case <-next:
				case <-stop:
				}
			})
			t.Cleanup(func() { close(stop) }) // before the subscriber's own cleanup, which waits for it
			fence := fenceOn(t, lab, s.nc)

			var published, handled uint64
			for r := range rounds {
				lab.Publish(t, tc.publish) // returns at once: the feed never waits
				published += uint64(tc.publish)
				fence() // every tick is now queued or dropped

				for range min(uint64(tc.handle), published-handled-tc.wantDropped[r]) {
					select {
					case next <- struct{}{}: // the subscriber holds a tick: let it go
					case <-time.After(10 * time.Second):
						t.Fatalf("round %d: the subscriber holds no tick after %d handled, want more", r+1, handled)
					}
					handled++
				}
				// The subscriber takes the next tick out of the queue, if
				// there is one, before the next round: then Received is one
				// ahead, and its drop count and queue depth are current.
				if published-handled-tc.wantDropped[r] > 0 {
					labtest.WaitFor(t, "the subscriber to take its next tick", func() bool {
						return stats.Received.Load() == handled+1
					})
				}

				dropped := stats.Dropped.Load()
				waiting := published - handled - dropped
				t.Logf("round %d: published %d, handled %d, dropped %d, waiting %d (pending %d)",
					r+1, published, handled, dropped, waiting, stats.Pending.Load())
				if dropped != tc.wantDropped[r] || waiting != tc.wantWaiting[r] {
					t.Fatalf("round %d: got dropped %d, waiting %d; want %d, %d",
						r+1, dropped, waiting, tc.wantDropped[r], tc.wantWaiting[r])
				}
				// Pending, the library's own gauge, is what waits but the tick in hand.
				if got, want := stats.Pending.Load(), max(int64(waiting)-1, 0); got != want {
					t.Errorf("round %d: got pending %d, want %d", r+1, got, want)
				}
			}
		})
	}
}

// fenceOn subscribes nc to a fence subject and returns a function that
// publishes a fence from the feed's connection and waits until nc has it.
// The server delivers one publisher's messages to a connection in order, and
// the library queues (or drops) each before it reads the next: once the fence
// is in, every tick published before it has been queued or dropped.
func fenceOn(t *testing.T, lab *labtest.Lab, nc *nats.Conn) func() {
	t.Helper()
	arrived := make(chan struct{}, 1)
	sub, err := nc.Subscribe("fence", func(*nats.Msg) { arrived <- struct{}{} })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return func() {
		t.Helper()
		if err := lab.NC.Publish("fence", nil); err != nil {
			t.Fatal(err)
		}
		select {
		case <-arrived:
		case <-time.After(10 * time.Second):
			t.Fatal("the fence did not arrive within 10s")
		}
	}
}

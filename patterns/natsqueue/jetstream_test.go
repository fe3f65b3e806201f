package natsqueue

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"commlab/shared/labtest"
)

// TestJetStreamKillRedelivers kills a JetStream worker while it holds unacked
// ticks. Nothing is lost: every tick is processed and acked, the dead worker's
// ticks come back to the others with NumDelivered > 1, and the stream ends empty.
//
// Some tick may well be processed twice, and the test allows it: that is what
// at-least-once means. With explicit acks the server redelivers any message
// whose ack has not arrived within AckWait (500 ms here), and on a busy
// machine a live worker's prefetched tick can wait that long in its client,
// or its ack can. The job is done again, and the ledger counts a duplicate.
// What may never happen is a tick not processed at all, or processed twice
// without the server having redelivered it.
func TestJetStreamKillRedelivers(t *testing.T) {
	tl := startLab(t)
	f := newFinished()
	p := startPool(t, tl, PoolOptions{JetStream: 3, Worker: WorkerOptions{WorkTime: 20 * time.Millisecond}, onFinish: f.hook})

	const n = 60
	tl.publish(t, n)
	labtest.WaitFor(t, "js-1 to be in a job", func() bool { return p.holding("js-1") })
	killed, err := p.Kill("js-1")
	if err != nil {
		t.Fatal(err)
	}
	killedAt := time.Now()
	byJS1 := f.count("js-1")
	snap := waitSnapshot(t, p, "every tick processed and the stream empty", func(s Snapshot) bool {
		return s.JetStream.Processed == n && s.JetStream.Pending == 0 && s.JetStream.InStream == 0
	})

	j := snap.JetStream
	t.Logf("jetstream %+v", j)
	if j.Published != n || j.Processed != n || j.DeadLettered != 0 {
		t.Errorf("got jetstream %+v, want %d published and processed, no dead letters", j, n)
	}
	if j.Redelivered == 0 || j.Duplicates > j.Redelivered {
		t.Errorf("got %d redelivered, %d duplicates; want js-1's unacked ticks redelivered, and no duplicate without a redelivery", j.Redelivered, j.Duplicates)
	}
	if killed.Held > j.Redelivered {
		t.Errorf("got js-1 held %d, redelivered %d; want every tick js-1 abandoned to come back", killed.Held, j.Redelivered)
	}
	by, redo := f.snapshot()
	for seq := uint64(1); seq <= n; seq++ {
		switch {
		case len(by[seq]) == 0:
			t.Errorf("stream seq %d was never processed", seq)
		case len(by[seq]) > 1 && redo[seq] == 0:
			t.Errorf("stream seq %d was processed by %v, though never redelivered", seq, by[seq])
		}
	}
	if got := f.count("js-1"); got != byJS1 {
		t.Errorf("js-1 finished %d ticks after it was killed, want none", got-byJS1)
	}
	t.Logf("redelivered after js-1 died: %v (stream seq: deliveries), all within %v", redo, time.Since(killedAt).Round(time.Millisecond))
	if msgs, ackPending, pending := streamState(t, tl.NC); msgs != 0 || ackPending != 0 || pending != 0 {
		t.Errorf("got %s with %d msgs, %d ack pending, %d pending; want all 0", StreamName, msgs, ackPending, pending)
	}
}

// TestJetStreamRedeliveryWaitsForAckWait shows nats-server #4716: a dead
// worker's ticks are redelivered only once AckWait has passed, even though its
// connection closed at once.
func TestJetStreamRedeliveryWaitsForAckWait(t *testing.T) {
	tl := startLab(t)
	f := newFinished()
	// PullMaxMessages 1: no worker takes both ticks.
	p := startPool(t, tl, PoolOptions{JetStream: 2, Worker: WorkerOptions{WorkTime: 200 * time.Millisecond, PullMaxMessages: 1}, onFinish: f.hook})

	tl.publish(t, 2) // one each: each worker is in a job at once
	labtest.WaitFor(t, "js-1 to be in a job", func() bool { return p.holding("js-1") })
	killed, err := p.Kill("js-1")
	if err != nil {
		t.Fatal(err)
	}
	killedAt := time.Now()
	if killed.Held != 1 {
		t.Errorf("got js-1 held %d, want the 1 tick of the job it was in", killed.Held)
	}
	snap := waitSnapshot(t, p, "both ticks processed", func(s Snapshot) bool { return s.JetStream.Processed == 2 })
	took := time.Since(killedAt)
	if snap.JetStream.Redelivered != 1 {
		t.Errorf("got %d redelivered, want 1", snap.JetStream.Redelivered)
	}
	// js-2 needs its 200 ms job, then the redelivered tick's: the wait before
	// that is AckWait.
	if took < testAckWait {
		t.Errorf("the dead worker's tick was processed %v after the kill, want no sooner than AckWait %v", took, testAckWait)
	}
	t.Logf("processed %v after the kill (AckWait %v)", took.Round(time.Millisecond), testAckWait)
}

// TestPoisonIsDeadLettered publishes a message that is not a tick among good
// ones. The JetStream workers Nak it until MaxDeliver; the dead-letter handler
// then moves it to work.dead, and TICKWORK ends empty.
func TestPoisonIsDeadLettered(t *testing.T) {
	tl := startLab(t)
	p := startPool(t, tl, PoolOptions{Core: 1, JetStream: 2, Worker: WorkerOptions{WorkTime: time.Millisecond}})

	tl.publish(t, 5)
	poison := []byte(`{"op":"not a tick"}`)
	if err := tl.NC.Publish(Subject, poison); err != nil { // a plain publish: the stream captures it all the same
		t.Fatal(err)
	}
	tl.publish(t, 5)
	// Both sides count on their own goroutines: wait for each, core included.
	snap := waitSnapshot(t, p, "the poison dead-lettered, the stream empty, and core-1's count of it", func(s Snapshot) bool {
		return s.JetStream.DeadLettered == 1 && s.JetStream.InStream == 0 && s.JetStream.Processed == 10 &&
			s.Core.Invalid == 1 && workerStats(s, "core-1").Poison == 1
	})

	var naks uint64
	for _, w := range snap.Workers {
		if w.Kind == JetStream {
			naks += w.Poison
		}
	}
	const maxDeliver = 5 // the default
	if naks != maxDeliver {
		t.Errorf("got the poison delivered and Nak'ed %d times, want MaxDeliver %d", naks, maxDeliver)
	}
	if snap.Core.Invalid != 1 || workerStats(snap, "core-1").Poison != 1 {
		t.Errorf("got core invalid %d, core-1 poison %d; want 1 and 1", snap.Core.Invalid, workerStats(snap, "core-1").Poison)
	}
	dead := lastDeadLetter(t, tl.NC)
	if string(dead.Data) != string(poison) {
		t.Errorf("got dead letter %q, want %q", dead.Data, poison)
	}
	for header, want := range map[string]string{
		DeadSeqHeader:        "6", // after the first 5 ticks
		DeadDeliveriesHeader: strconv.Itoa(maxDeliver),
		DeadSubjectHeader:    Subject,
	} {
		if got := dead.Header.Get(header); got != want {
			t.Errorf("got dead letter header %s %q, want %q", header, got, want)
		}
	}
	if msgs, ackPending, pending := streamState(t, tl.NC); msgs != 0 || ackPending != 0 || pending != 0 {
		t.Errorf("got %s with %d msgs, %d ack pending, %d pending; want all 0", StreamName, msgs, ackPending, pending)
	}
}

// TestDeadLetterSweep shows nats-server #5564 and its remedy, under load. With
// no handler listening for the advisory, a message that used up MaxDeliver
// stays in the stream for good, delivered to no one. A handler started later
// sweeps the stream, finds it below the consumer's ack floor, and moves it,
// while the feed keeps the lone worker busy: there is never a moment with no
// ack pending, and the sweep does not need one.
func TestDeadLetterSweep(t *testing.T) {
	tl := startLab(t)
	if err := tl.NC.Publish(Subject, []byte("garbage")); err != nil { // stream seq 1, before any tick
		t.Fatal(err)
	}
	runFeed(t, tl, 0)
	workerConn, err := tl.Broker.Connect("lone-worker")
	if err != nil {
		t.Fatal(err)
	}
	defer workerConn.Close()
	ctx, cancel := context.WithCancel(context.Background())
	workerDone := make(chan error, 1)
	go func() {
		// 10 ms a tick: at most 100 ticks/s, short of the feed's 200.
		workerDone <- RunWorker(ctx, workerConn, JetStream, "lone-worker", &WorkerOptions{WorkTime: 10 * time.Millisecond, Log: testLogger(t)})
	}()
	defer func() {
		cancel()
		if err := <-workerDone; err != nil {
			t.Errorf("RunWorker: %v", err)
		}
	}()
	if err := tl.Feed.SetRate(200); err != nil {
		t.Fatal(err)
	}

	labtest.WaitFor(t, "the poison given up on and left in the stream, behind the ack floor", func() bool {
		floor, _ := ackFloor(t, tl.NC)
		return floor >= 1 && inStream(t, tl.NC, 1)
	})

	dlConn, err := tl.Broker.Connect("dead-letters")
	if err != nil {
		t.Fatal(err)
	}
	defer dlConn.Close()
	var moved movedCounter
	dlCtx, dlCancel := context.WithCancel(context.Background())
	dlDone := make(chan error, 1)
	go func() {
		dlDone <- RunDeadLetters(dlCtx, dlConn, &DeadLetterOptions{SweepEvery: 20 * time.Millisecond, Moved: &moved.n, Log: testLogger(t)})
	}()
	var busy, looks int // how often the queue had acks pending while the sweep was due
	labtest.WaitFor(t, "the sweep to move it", func() bool {
		if _, ackPending := ackFloor(t, tl.NC); ackPending > 0 {
			busy++
		}
		looks++
		return moved.n.Load() == 1
	})
	dlCancel()
	if err := <-dlDone; err != nil {
		t.Errorf("RunDeadLetters: %v", err)
	}
	t.Logf("the queue had acks pending at %d of %d looks while the sweep ran", busy, looks)
	if inStream(t, tl.NC, 1) {
		t.Errorf("the poison is still in %s after the sweep", StreamName)
	}
	dead := lastDeadLetter(t, tl.NC)
	if string(dead.Data) != "garbage" || dead.Header.Get(DeadSeqHeader) != "1" || dead.Header.Get(DeadDeliveriesHeader) != "" {
		t.Errorf("got dead letter %q with headers %v, want \"garbage\" from seq 1, deliveries unknown", dead.Data, dead.Header)
	}
}

// TestJetStreamSlowJobIsRedelivered is the other side of AckWait: the server
// cannot tell a slow worker from a dead one. Worker A takes a job and is still
// on it, neither acking nor reporting progress, when AckWait passes; the
// server then gives the same message to worker B, and the job is done twice.
// (The coding exercise, exercise_progress.go, keeps A's claim alive.)
func TestJetStreamSlowJobIsRedelivered(t *testing.T) {
	tl := startLab(t)
	tl.publish(t, 1)

	fetchOne := func(worker string) jetstream.Msg {
		t.Helper()
		nc, err := tl.Broker.Connect(worker)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		cons, err := jetStreamOf(t, nc).Consumer(ctx, StreamName, ConsumerName)
		if err != nil {
			t.Fatal(err)
		}
		batch, err := cons.Fetch(1, jetstream.FetchMaxWait(4*testAckWait))
		if err != nil {
			t.Fatal(err)
		}
		var got []jetstream.Msg
		for m := range batch.Messages() {
			got = append(got, m)
		}
		if err := batch.Error(); err != nil || len(got) != 1 {
			t.Fatalf("%s fetched %d messages (%v), want 1", worker, len(got), err)
		}
		return got[0]
	}
	metadata := func(m jetstream.Msg) *jetstream.MsgMetadata {
		t.Helper()
		md, err := m.Metadata()
		if err != nil {
			t.Fatal(err)
		}
		return md
	}

	// The server delivers after A asks, and redelivers AckWait after that at the soonest.
	askedAt := time.Now()
	first := fetchOne("worker-a")  // A starts the job, and takes its time
	second := fetchOne("worker-b") // B is idle and asks for work
	took := time.Since(askedAt)
	a, b := metadata(first), metadata(second)
	t.Logf("worker-b got stream seq %d (delivery %d) %v after worker-a asked for it (delivery %d); AckWait %v",
		b.Sequence.Stream, b.NumDelivered, took.Round(time.Millisecond), a.NumDelivered, testAckWait)
	if b.Sequence.Stream != a.Sequence.Stream || a.NumDelivered != 1 || b.NumDelivered != 2 {
		t.Errorf("got worker-a stream seq %d delivery %d, worker-b seq %d delivery %d; want the same message, delivered once then again",
			a.Sequence.Stream, a.NumDelivered, b.Sequence.Stream, b.NumDelivered)
	}
	if took < testAckWait {
		t.Errorf("worker-b got the job %v after worker-a asked for it, want no sooner than AckWait %v", took, testAckWait)
	}
	// Both finish the job; the first ack deletes the message.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := first.DoubleAck(ctx); err != nil {
		t.Errorf("worker-a's ack: %v", err)
	}
	if msgs, _, _ := streamState(t, tl.NC); msgs != 0 {
		t.Errorf("got %d msgs in %s after the ack, want 0", msgs, StreamName)
	}
}

// TestJetStreamPulledAheadWaitsOutAckWait shows the price of prefetch for slow
// jobs. js-1, alone on the consumer, pulls two ticks: the first goes into its
// job, the second waits in its client, and that one's AckWait runs all the
// while. The job takes longer than AckWait, so the server gives the waiting
// tick to js-2 as well, whatever js-1 does about the tick in hand (progress
// reports cover only that one): slow jobs want PullMaxMessages 1.
func TestJetStreamPulledAheadWaitsOutAckWait(t *testing.T) {
	tl := startLab(t)
	f := newFinished()
	p := startPool(t, tl, PoolOptions{JetStream: 2, Worker: WorkerOptions{WorkTime: 2 * testAckWait, PullMaxMessages: 2}, onFinish: f.hook})
	if _, err := p.Kill("js-2"); err != nil {
		t.Fatal(err)
	}
	labtest.WaitFor(t, "the server to drop js-2's pull request", func() bool { return numWaiting(t, tl) == 1 })

	tl.publish(t, 2)
	labtest.WaitFor(t, "js-1 to hold both ticks", func() bool {
		_, unacked, _ := streamState(t, tl.NC)
		return unacked == 2 && p.holding("js-1")
	})
	if err := p.Revive(t.Context(), "js-2"); err != nil { // idle, asking for work
		t.Fatal(err)
	}
	snap := waitSnapshot(t, p, "both ticks processed, the stream empty and no worker in a job", func(s Snapshot) bool {
		return s.JetStream.Processed == 2 && s.JetStream.InStream == 0 && s.JetStream.Pending == 0 &&
			!p.holding("js-1") && !p.holding("js-2")
	})
	by, redo := f.snapshot()
	t.Logf("jetstream %+v; processed by %v, deliveries %v", snap.JetStream, by, redo)
	if redo[2] < 2 || !slices.Contains(by[2], "js-2") {
		t.Errorf("got stream seq 2 processed by %v, delivered %d times; want it redelivered to js-2 while it waited behind js-1's job", by[2], redo[2])
	}
	if snap.JetStream.DeadLettered != 0 {
		t.Errorf("got %d dead-lettered, want none", snap.JetStream.DeadLettered)
	}
}

// numWaiting reads how many pull requests wait at the consumer.
func numWaiting(t *testing.T, tl *testLab) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := jetStreamOf(t, tl.NC).Consumer(ctx, StreamName, ConsumerName)
	if err != nil {
		t.Fatal(err)
	}
	ci, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return ci.NumWaiting
}

package natsqueue

import (
	"context"
	"log/slog"
	"slices"
	"testing"
	"time"

	"commlab/shared/labtest"
)

// TestQueueGroupSharesTicks checks the queue group while every worker lives:
// each tick is handled by exactly one worker, and the shares add up to what
// was published.
func TestQueueGroupSharesTicks(t *testing.T) {
	tl := startLab(t)
	f := newFinished()
	p := startPool(t, tl, PoolOptions{Core: 3, Worker: WorkerOptions{WorkTime: time.Millisecond}, onFinish: f.hook})

	const n = 300
	ticks := tl.publish(t, n)
	snap := waitSnapshot(t, p, "every tick processed and settled", func(s Snapshot) bool {
		return s.Core.Processed == n && s.Core.InFlight == 0
	})

	by, _ := f.snapshot()
	for _, tick := range ticks {
		if got := by[tick.Seq]; len(got) != 1 {
			t.Errorf("seq %d was finished by %v, want exactly one worker", tick.Seq, got)
		}
	}
	if len(by) != n {
		t.Errorf("got %d distinct seqs finished, want %d", len(by), n)
	}
	var sum uint64
	for _, w := range snap.Workers {
		sum += w.Processed
		if w.Processed == 0 {
			t.Errorf("%s processed nothing; the group should give every member a share", w.Name)
		}
		t.Logf("%s processed %d", w.Name, w.Processed)
	}
	c := snap.Core
	if sum != n || c.Published != n || c.Processed != n || c.Lost != 0 || c.Unknown != 0 || c.Duplicates != 0 {
		t.Errorf("got workers' sum %d, core %+v; want %d published, processed and summed, none lost, unknown or duplicated", sum, c, n)
	}
}

// TestCoreKillLosesInFlight kills a core worker while it has a backlog. The
// ticks it had received and not finished are lost, exactly those: the test
// waits until every published tick has reached some worker's client, so
// nothing is on the wire when the worker dies.
func TestCoreKillLosesInFlight(t *testing.T) {
	tl := startLab(t)
	f := newFinished()
	const pendingLimit = 100 // the most a worker's client may queue
	p := startPool(t, tl, PoolOptions{Core: 3, Worker: WorkerOptions{WorkTime: 20 * time.Millisecond, PendingLimit: pendingLimit}, onFinish: f.hook})

	const burst = 90 // about 30 a worker: 600 ms of work each
	tl.publish(t, burst)
	workers := []*worker{live(t, p, "core-1"), live(t, p, "core-2"), live(t, p, "core-3")}
	received := func() (sum uint64) {
		for _, w := range workers {
			sum += w.nc.Stats().InMsgs
		}
		return sum
	}
	labtest.WaitFor(t, "every tick to reach a worker's client", func() bool { return received() == burst })
	receivedByVictim := workers[0].nc.Stats().InMsgs

	killed, err := p.Kill("core-1")
	if err != nil {
		t.Fatal(err)
	}
	snap := waitSnapshot(t, p, "the burst processed or lost", func(s Snapshot) bool {
		return s.Core.Published == burst && s.Core.InFlight == 0
	})
	c := snap.Core
	by, _ := f.snapshot()
	var doneByVictim uint64
	for _, ws := range by {
		if slices.Contains(ws, "core-1") {
			doneByVictim++
		}
	}
	t.Logf("core-1 received %d ticks, finished %d, and held %d when killed; the ledger counts %d lost, %d processed of %d published",
		receivedByVictim, doneByVictim, killed.Held, c.Lost, c.Processed, c.Published)
	if killed.Held == 0 {
		t.Fatal("core-1 held nothing when killed; the test needs it to have a backlog")
	}
	if c.Processed+c.Lost != burst {
		t.Errorf("got processed %d + lost %d = %d, want published %d", c.Processed, c.Lost, c.Processed+c.Lost, burst)
	}
	if c.Lost != killed.Held {
		t.Errorf("got %d lost, want exactly the %d core-1 held", c.Lost, killed.Held)
	}
	if killed.Held != receivedByVictim-doneByVictim {
		t.Errorf("got held %d, want received %d - finished %d", killed.Held, receivedByVictim, doneByVictim)
	}
	if killed.Held > pendingLimit {
		t.Errorf("got %d held, more than the %d a worker's client can hold", killed.Held, pendingLimit)
	}
	if c.Duplicates != 0 || c.Late != 0 || c.Dropped != 0 {
		t.Errorf("got %d duplicates, %d late, %d dropped; want none", c.Duplicates, c.Late, c.Dropped)
	}
	if w := workerStats(snap, "core-1"); w.Alive || w.Lost != killed.Held {
		t.Errorf("got core-1 %+v, want dead with lost %d", w, killed.Held)
	}

	// The group goes on with two workers. Until the server notices that
	// core-1's connection is gone, it may still route core-1's share there.
	// Those ticks are gone too, but no worker of the pool received them: the
	// pool counts them as unknown, as it would ticks a worker outside it took.
	const after = 30
	tl.publish(t, after)
	const published = burst + after
	snap = waitSnapshot(t, p, "every tick processed or lost", func(s Snapshot) bool {
		return s.Core.Published == published && s.Core.InFlight == 0
	})
	c = snap.Core
	if c.Processed+c.Lost+c.Unknown != published || c.Duplicates != 0 {
		t.Errorf("got core %+v, want processed + lost + unknown = %d and no duplicates", c, published)
	}
	by, _ = f.snapshot()
	var routedToTheDead uint64
	for seq := uint64(burst + 1); seq <= published; seq++ {
		switch ws := by[seq]; {
		case len(ws) == 0:
			routedToTheDead++
		case len(ws) > 1 || ws[0] == "core-1":
			t.Errorf("seq %d, published after the kill, was finished by %v; want one live worker", seq, ws)
		}
	}
	if c.Lost != killed.Held || c.Unknown != routedToTheDead {
		t.Errorf("got lost %d, unknown %d after the kill; want what core-1 held, %d, and the %d ticks no worker finished", c.Lost, c.Unknown, killed.Held, routedToTheDead)
	}
	t.Logf("after the kill, %d of %d ticks still went to core-1 before the server noticed it was gone", routedToTheDead, after)
}

// TestCoreNoWorkerNoDelivery checks the plainest at-most-once case: a tick
// published while no member of the group is subscribed goes nowhere. The pool
// can only see that none of its workers got it, so it counts it as unknown:
// core NATS tells the publisher nothing either way.
func TestCoreNoWorkerNoDelivery(t *testing.T) {
	tl := startLab(t)
	p := startPool(t, tl, PoolOptions{Core: 1, Worker: WorkerOptions{WorkTime: time.Millisecond}})
	if _, err := p.Kill("core-1"); err != nil {
		t.Fatal(err)
	}
	tl.publish(t, 10)
	snap := waitSnapshot(t, p, "ticks settled", func(s Snapshot) bool { return s.Core.Published == 10 && s.Core.InFlight == 0 })
	if snap.Core.Unknown != 10 || snap.Core.Lost != 0 || snap.Core.Processed != 0 {
		t.Errorf("got core %+v, want all 10 unknown: gone, and no worker of the pool had them", snap.Core)
	}
	// Revived, the worker gets new ticks only.
	if err := p.Revive(t.Context(), "core-1"); err != nil {
		t.Fatal(err)
	}
	tl.publish(t, 5)
	snap = waitSnapshot(t, p, "new ticks processed", func(s Snapshot) bool { return s.Core.Processed == 5 && s.Core.InFlight == 0 })
	if snap.Core.Unknown != 10 || snap.Core.Published != 15 {
		t.Errorf("got core %+v, want 15 published, 5 processed, 10 unknown", snap.Core)
	}
	if w := workerStats(snap, "core-1"); !w.Alive || w.Restarts != 1 || w.Processed != 5 {
		t.Errorf("got %+v, want alive, 1 restart, 5 processed", w)
	}
}

// TestCoreSlowConsumerDrops checks that a worker whose client queue is full
// drops ticks, that Dropped counts them, and that they count as lost.
func TestCoreSlowConsumerDrops(t *testing.T) {
	tl := startLab(t)
	p := startPool(t, tl, PoolOptions{Core: 1, Worker: WorkerOptions{WorkTime: 5 * time.Millisecond, PendingLimit: 5}})
	tl.publish(t, 50)
	snap := waitSnapshot(t, p, "ticks settled", func(s Snapshot) bool { return s.Core.Published == 50 && s.Core.InFlight == 0 })
	c := snap.Core
	t.Logf("core %+v", c)
	if c.Dropped == 0 || c.Lost != c.Dropped || c.Unknown != 0 || c.Processed+c.Lost != 50 {
		t.Errorf("got core %+v, want some dropped, lost == dropped, none unknown, processed + lost == 50", c)
	}
}

// TestCoreOutsideWorkerIsNotLost runs a worker outside the pool in the same
// queue group, as `commlab worker --kind core` or `nats sub --queue workers
// work.ticks` would. It takes a share of the ticks, which the pool's ledger
// sees published and never finished by its own workers. They are not lost:
// the pool counts them as unknown, and lost stays 0.
func TestCoreOutsideWorkerIsNotLost(t *testing.T) {
	tl := startLab(t)
	p := startPool(t, tl, PoolOptions{Core: 2, Worker: WorkerOptions{WorkTime: time.Millisecond}})

	logs := newLogCounter()
	nc, err := tl.Broker.Connect("outsider")
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- RunWorker(ctx, nc, Core, "outsider", &WorkerOptions{WorkTime: time.Millisecond, Log: slog.New(logs)})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("RunWorker: %v", err)
		}
	}()
	labtest.WaitFor(t, "the outsider to join the group", func() bool { return logs.count("queue worker started", "outsider") == 1 })

	const n = 300
	tl.publish(t, n)
	labtest.WaitFor(t, "every tick processed by someone", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s := p.Snapshot(ctx)
		return s.Core.Processed+uint64(logs.count("queue worker: processed", "outsider")) == n
	})
	snap := waitSnapshot(t, p, "every tick settled", func(s Snapshot) bool { return s.Core.Published == n && s.Core.InFlight == 0 })
	c := snap.Core
	outside := uint64(logs.count("queue worker: processed", "outsider"))
	t.Logf("the pool's workers processed %d, the outsider %d; core %+v", c.Processed, outside, c)
	if outside == 0 {
		t.Fatal("the outsider processed nothing; the group should give every member a share")
	}
	if c.Lost != 0 || c.Unknown != outside || c.Processed+c.Unknown != n {
		t.Errorf("got core %+v, want lost 0 and unknown %d: exactly what the outsider took", c, outside)
	}
}

func workerStats(s Snapshot, name string) WorkerStats {
	for _, w := range s.Workers {
		if w.Name == name {
			return w
		}
	}
	return WorkerStats{}
}

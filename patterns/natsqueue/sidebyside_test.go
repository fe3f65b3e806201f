package natsqueue

import (
	"slices"
	"testing"
	"time"

	"commlab/shared/labtest"
)

// TestKillUnderBacklog is the lesson's comparison, with more work published
// than the workers can do at once: a worker of each kind dies at the same
// moment. The core queue group has pushed the whole backlog out to its
// members, so the dead core worker takes its share along, lost. The JetStream
// workers hold at most PullMaxMessages each, the rest waits in the stream, and
// the dead worker's few ticks come back to the others: nothing is lost.
func TestKillUnderBacklog(t *testing.T) {
	tl := startLab(t)
	const (
		workers = 3
		pull    = 2  // PullMaxMessages, the default
		burst   = 90 // about 30 a worker, 1.2 s of work each
	)
	p := startPool(t, tl, PoolOptions{Core: workers, JetStream: workers,
		Worker: WorkerOptions{WorkTime: 40 * time.Millisecond, PullMaxMessages: pull}})

	tl.publish(t, burst)
	cores := []*worker{live(t, p, "core-1"), live(t, p, "core-2"), live(t, p, "core-3")}
	labtest.WaitFor(t, "every tick to reach a core worker's client", func() bool {
		var sum uint64
		for _, w := range cores {
			sum += w.nc.Stats().InMsgs
		}
		return sum == burst
	})
	labtest.WaitFor(t, "js-1 to be in a job", func() bool { return p.holding("js-1") })

	// The moment before the kill, as the server sees the JetStream side.
	inStream, unacked, waiting := streamState(t, tl.NC)
	coreKilled, err := p.Kill("core-1")
	if err != nil {
		t.Fatal(err)
	}
	jsKilled, err := p.Kill("js-1")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("at the kill: core-1 held %d; js-1 held %d, the JetStream workers %d unacked, and %d of the %d ticks in %s waited for a worker",
		coreKilled.Held, jsKilled.Held, unacked, waiting, inStream, StreamName)

	if coreKilled.Held <= pull {
		t.Errorf("got core-1 held %d, want a backlog: more than the %d a JetStream worker pulls", coreKilled.Held, pull)
	}
	if jsKilled.Held < 1 || jsKilled.Held > pull {
		t.Errorf("got js-1 held %d, want the tick in its job and at most PullMaxMessages %d in all", jsKilled.Held, pull)
	}
	if unacked > workers*pull || waiting == 0 {
		t.Errorf("got %d unacked and %d waiting in %s, want at most %d out with the workers and the rest in the stream",
			unacked, waiting, StreamName, workers*pull)
	}

	snap := waitSnapshot(t, p, "both queues settled", func(s Snapshot) bool {
		return s.Core.Published == burst && s.Core.InFlight == 0 &&
			s.JetStream.Processed == burst && s.JetStream.InStream == 0 && s.JetStream.Pending == 0
	})
	c, j := snap.Core, snap.JetStream
	t.Logf("core %+v\njetstream %+v", c, j)
	if c.Lost != coreKilled.Held || c.Processed+c.Lost != burst {
		t.Errorf("got core processed %d, lost %d; want lost exactly the %d core-1 held, and processed + lost = %d",
			c.Processed, c.Lost, coreKilled.Held, burst)
	}
	if j.Redelivered < jsKilled.Held || j.DeadLettered != 0 {
		t.Errorf("got jetstream redelivered %d, dead-lettered %d; want at least the %d js-1 held back, none dead",
			j.Redelivered, j.DeadLettered, jsKilled.Held)
	}
}

// TestRevivedWorkers kills the only worker of each kind, publishes, and
// revives them. The core queue group had no member when those ticks came, so
// they went nowhere, and the revived core worker gets only ticks published
// after it rejoined. The stream kept them: the revived JetStream worker does
// them all.
func TestRevivedWorkers(t *testing.T) {
	tl := startLab(t)
	f := newFinished()
	p := startPool(t, tl, PoolOptions{Core: 1, JetStream: 1, Worker: WorkerOptions{WorkTime: time.Millisecond}, onFinish: f.hook})
	for _, name := range []string{"core-1", "js-1"} {
		if _, err := p.Kill(name); err != nil {
			t.Fatal(err)
		}
	}
	const old, fresh = 10, 5
	before := tl.publish(t, old)
	waitSnapshot(t, p, "the old ticks settled on the core side", func(s Snapshot) bool { return s.Core.Published == old && s.Core.InFlight == 0 })

	for _, name := range []string{"core-1", "js-1"} {
		if err := p.Revive(t.Context(), name); err != nil {
			t.Fatal(err)
		}
	}
	tl.publish(t, fresh)
	snap := waitSnapshot(t, p, "the revived workers done", func(s Snapshot) bool {
		return s.Core.Published == old+fresh && s.Core.InFlight == 0 &&
			s.JetStream.Processed == old+fresh && s.JetStream.InStream == 0
	})
	if c := snap.Core; c.Processed != fresh || c.Unknown != old {
		t.Errorf("got core %+v, want the %d new ticks processed and the %d old ones gone", c, fresh, old)
	}
	if w := workerStats(snap, "js-1"); w.Processed != old+fresh {
		t.Errorf("got js-1 %+v, want all %d ticks processed: the %d stored while it was dead, and the new ones", w, old+fresh, old)
	}
	lastOld := before[len(before)-1].Seq
	by, _ := f.snapshot()
	for seq, ws := range by {
		if slices.Contains(ws, "core-1") && seq <= lastOld {
			t.Errorf("the revived core-1 processed tick seq %d, published while it was dead", seq)
		}
	}
}

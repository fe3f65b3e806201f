//go:build exercise

package natsqueue

import (
	"testing"
	"time"
)

// TestExerciseSlowJobNotRedelivered runs jobs that take longer than AckWait,
// with one idle worker more than there are jobs, ready to take any tick the
// server gives up on. Without progress reports the server takes each slow
// worker for dead once AckWait has passed, and the idle worker does the job a
// second time. With them, every job is delivered once and done once.
func TestExerciseSlowJobNotRedelivered(t *testing.T) {
	const (
		ackWait = time.Second
		jobTime = 5 * ackWait / 2 // two and a half AckWaits: it takes two reports to stay in hand
		jobs    = 3
	)
	tl := startLabWith(t, StreamOptions{AckWait: ackWait})
	f := newFinished()
	p := startPool(t, tl, PoolOptions{JetStream: jobs + 1, Worker: WorkerOptions{
		WorkTime:        jobTime,
		PullMaxMessages: 1, // no tick pulled ahead, waiting out its AckWait behind a slow job
	}, onFinish: f.hook})

	start := time.Now()
	tl.publish(t, jobs)
	snap := waitSnapshot(t, p, "every job done, the stream empty and no worker in a job", func(s Snapshot) bool {
		if s.JetStream.Processed < jobs || s.JetStream.InStream != 0 || s.JetStream.Pending != 0 {
			return false
		}
		for _, name := range p.Names() {
			if p.holding(name) {
				return false
			}
		}
		return true
	})
	took := time.Since(start)
	t.Logf("jetstream %+v, %v after the publish", snap.JetStream, took.Round(time.Millisecond))

	j := snap.JetStream
	if j.Redelivered != 0 {
		t.Errorf("got %d redeliveries of jobs that were still running (AckWait %v, job %v): the server took their workers for dead. "+
			"Make reportProgress call m.InProgress every ackWait/2 until stop is called.", j.Redelivered, ackWait, jobTime)
	}
	by, redo := f.snapshot()
	for seq := uint64(1); seq <= jobs; seq++ {
		switch ws := by[seq]; {
		case len(ws) == 0:
			t.Errorf("stream seq %d was never processed", seq)
		case len(ws) > 1:
			t.Errorf("stream seq %d was processed %d times, by %v (delivered %d times): one worker was still on it when the server gave it to another",
				seq, len(ws), ws, redo[seq])
		}
	}
	if j.Processed != jobs || j.Duplicates != 0 || j.DeadLettered != 0 {
		t.Errorf("got jetstream %+v, want %d processed, no duplicates, nothing dead-lettered", j, jobs)
	}
	if took < jobTime {
		t.Errorf("the jobs were done %v after the publish, want no sooner than the job time %v", took, jobTime)
	}
}

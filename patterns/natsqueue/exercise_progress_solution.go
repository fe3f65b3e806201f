//go:build solution

package natsqueue

import (
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// reportProgress tells the server every ackWait/2 that the job of m is still
// running, until stop is called. Each InProgress ("+WPI") restarts the
// message's AckWait on the server, so a slow job is not mistaken for a dead
// worker, while a worker that really dies stops reporting and its tick comes
// back to the others after one AckWait, as before.
//
// Half of AckWait leaves room for a report that is late by up to that much:
// a busy worker, a slow network. It covers only the message in hand: one a
// worker pulled ahead waits in its client with its own AckWait running, so
// slow jobs want a small PullMaxMessages too.
func reportProgress(m jetstream.Msg, ackWait time.Duration) (stop func()) {
	if ackWait <= 0 {
		return func() {} // no AckWait to beat
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		every := time.NewTicker(ackWait / 2)
		defer every.Stop()
		for {
			select {
			case <-done:
				return
			case <-every.C:
				// Fire-and-forget, like the ack itself. A report that fails
				// (the connection is closing) is not worth more than the next
				// one: if none gets through, the server redelivers after
				// AckWait, which is the at-least-once promise anyway.
				_ = m.InProgress()
			}
		}
	})
	// stop waits for the reporter, so that no report can follow the ack.
	return func() {
		close(done)
		wg.Wait()
	}
}

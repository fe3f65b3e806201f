package natsqueue

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"commlab/shared"
)

// startJetStream attaches the worker to the durable consumer "workers". Unlike
// the core queue group, where the server pushes ticks at a worker whether or
// not it is busy, a pull consumer hands out only what a worker asks for: at
// most PullMaxMessages at a time. The rest waits in the stream, where a
// worker's death cannot touch it.
func (w *worker) startJetStream(ctx context.Context) error {
	js, err := jetstream.New(w.nc)
	if err != nil {
		return fmt.Errorf("natsqueue: %s: jetstream: %w", w.name, err)
	}
	cons, err := js.Consumer(ctx, StreamName, ConsumerName)
	if err != nil {
		return fmt.Errorf("natsqueue: %s: consumer %s on %s (create it with SetupStreams): %w", w.name, ConsumerName, StreamName, err)
	}
	// The server's AckWait, not an assumption: the job must report progress
	// within it (reportProgress).
	w.ackWait = cons.CachedInfo().Config.AckWait
	cc, err := cons.Consume(w.handleJetStream,
		jetstream.PullMaxMessages(w.opts.PullMaxMessages),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			// Missed heartbeats, a reconnect, the connection closing: Consume
			// recovers from what it can by itself; this is for the record.
			w.log.Debug("queue worker: consume", "err", err)
		}),
	)
	if err != nil {
		return fmt.Errorf("natsqueue: %s: consume: %w", w.name, err)
	}
	// Closed is closed once the handler's goroutine has ended: taken now, it
	// lets kill and stop wait for that.
	w.cc, w.exited = cc, cc.Closed()
	return nil
}

// handleJetStream runs on the consumer's goroutine, one message at a time.
// The ack comes only after the job is done: if the worker dies first, the
// server never hears of it and, once AckWait has passed, gives the tick to
// another worker. So a tick may be processed twice, but never not at all.
func (w *worker) handleJetStream(m jetstream.Msg) {
	md, err := m.Metadata()
	if err != nil {
		// Only a message that did not come from a consumer lacks metadata.
		w.log.Warn("queue worker: message without JetStream metadata", "err", err)
		return
	}
	if md.NumDelivered > 1 {
		w.c.redelivered.Add(1)
		w.log.Debug("queue worker: redelivered", "stream_seq", md.Sequence.Stream, "delivered", md.NumDelivered)
	}
	t, err := shared.ParseTick(m.Data())
	if err != nil {
		// A message that does not parse never will, and Term would say so at
		// once. Nak sends it round like any message whose handler fails (a
		// crash, a timeout) until MaxDeliver, and then to the dead-letter path:
		// the path this lesson is about.
		w.c.poison.Add(1)
		if err := m.Nak(); err != nil {
			w.log.Debug("queue worker: nak", "stream_seq", md.Sequence.Stream, "err", err)
		}
		return
	}
	// A job longer than AckWait looks like a dead worker to the server, which
	// then gives the tick to another worker as well; reportProgress keeps the
	// claim alive while the job runs (the exercise in exercise_progress.go).
	stopProgress := reportProgress(m, w.ackWait)
	done := w.work(t, m.Headers().Get(shared.EpochHeader))
	stopProgress()
	if !done {
		return // killed mid-job: no ack, so the stream still owes this tick to someone
	}
	// The job is done, whatever becomes of the ack.
	w.c.processed.Add(1)
	if w.hooks.jsDone != nil {
		w.hooks.jsDone(md.Sequence.Stream, md.NumDelivered)
	}
	w.log.Debug("queue worker: processed", "seq", t.Seq, "stream_seq", md.Sequence.Stream, "delivered", md.NumDelivered)
	// DoubleAck waits for the server to confirm the ack; a plain Ack is
	// fire-and-forget. Neither can make "done" and "acked" one atomic step: a
	// worker that dies between them, or whose ack is lost on the way, has its
	// tick done twice, once by it and once by whoever gets the redelivery. So
	// the handler must be idempotent (job.update is), and an unconfirmed ack
	// is counted, not retried: the server redelivers if it really was lost.
	ctx, cancel := context.WithTimeout(context.Background(), w.opts.AckTimeout)
	defer cancel()
	if err := m.DoubleAck(ctx); err != nil {
		w.c.ackErrors.Add(1)
		w.log.Debug("queue worker: ack not confirmed", "stream_seq", md.Sequence.Stream, "err", err)
	}
}

package natsqueue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"commlab/shared"
)

// PublisherOptions tune a Publisher. A nil *PublisherOptions means the defaults.
type PublisherOptions struct {
	// MaxPending caps the publishes whose ack from the stream has not arrived
	// yet. Default 1000: a tenth of a second at the feed's top rate.
	MaxPending int

	// AckTimeout is how long a publish waits for its ack before it counts as
	// failed. Default 5s.
	AckTimeout time.Duration

	// Epoch is the feed's epoch (shared.Feed.Epoch), sent beside each tick as
	// the feed does on ticks.<SYMBOL>, so a worker can tell a restarted feed's
	// seq 1 from an old backlog's. Default "": no header.
	Epoch string

	// Log receives the start and end of failure episodes at Warn and Info.
	// Default: discard.
	Log *slog.Logger
}

// Publisher puts every tick on work.ticks once. That one publish reaches both
// work queues: the core queue group, which has subscribed to the subject, and
// the stream TICKWORK, which captures it.
//
// It publishes through JetStream with asynchronous acks, so "acked" means the
// stream stored the tick, and the feed never waits for a round trip. Pass
// Publish to shared.Feed.AlsoPublish.
type Publisher struct {
	js         jetstream.JetStream
	maxPending int
	header     nats.Header // the same, read-only map for every tick
	log        *slog.Logger

	published atomic.Uint64
	acked     atomic.Uint64
	failed    atomic.Uint64
	skipped   atomic.Uint64
	failing   atomic.Bool // in a failure episode: logged once, at its start
}

// PublisherStats are a Publisher's counters.
type PublisherStats struct {
	Published uint64 `json:"published"` // handed to NATS
	Acked     uint64 `json:"acked"`     // stored by TICKWORK: the server said so
	Failed    uint64 `json:"failed"`    // refused, or no ack in time: maybe not stored
	Skipped   uint64 `json:"skipped"`   // never published: MaxPending acks were outstanding
	Pending   int    `json:"pending"`   // acks outstanding now
}

// NewPublisher returns a publisher on nc. Create the streams first (SetupStreams).
func NewPublisher(nc *nats.Conn, opts *PublisherOptions) (*Publisher, error) {
	var o PublisherOptions
	if opts != nil {
		o = *opts
	}
	if o.MaxPending <= 0 {
		o.MaxPending = 1000
	}
	if o.AckTimeout <= 0 {
		o.AckTimeout = 5 * time.Second
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	p := &Publisher{maxPending: o.MaxPending, log: o.Log.With("pattern", "queue")}
	if o.Epoch != "" {
		p.header = nats.Header{shared.EpochHeader: {o.Epoch}}
	}
	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(o.MaxPending),
		jetstream.WithPublishAsyncTimeout(o.AckTimeout),
		jetstream.WithPublishAsyncAckHandler(p.onAck),
		jetstream.WithPublishAsyncErrHandler(p.onError),
	)
	if err != nil {
		return nil, fmt.Errorf("natsqueue: publisher: %w", err)
	}
	p.js = js
	return p, nil
}

// Publish sends t.Raw to work.ticks. It never blocks on the broker and never
// returns an error: the feed stops on an error, and no trouble of the work
// queue should stop the ticker. Every outcome is counted instead.
//
// Under backpressure, when MaxPending acks are outstanding because the stream
// cannot keep up or the broker is unreachable, the tick is skipped: it is not
// published at all, for either work queue, and Skipped counts it. At-least-once
// begins with the stream's ack; a tick that was never acked is the publisher's
// to retry or give up, and this one gives up rather than slow the feed.
func (p *Publisher) Publish(t shared.Tick) error {
	// Only the feed's goroutine publishes, so the count can only fall between
	// this check and the publish: PublishAsync will not stall.
	if p.js.PublishAsyncPending() >= p.maxPending {
		p.skipped.Add(1)
		p.fail("skipped: too many acks outstanding", jetstream.ErrTooManyStalledMsgs)
		return nil
	}
	// t.Raw is never modified after the feed encoded it, so the publisher may
	// hold on to it until the ack arrives.
	msg := &nats.Msg{Subject: Subject, Data: t.Raw, Header: p.header}
	if _, err := p.js.PublishMsgAsync(msg, jetstream.WithStallWait(time.Millisecond)); err != nil {
		p.failed.Add(1)
		p.fail("publish", err)
		return nil
	}
	p.published.Add(1)
	return nil
}

// Flush waits until every publish so far has been acked or has failed, or ctx ends.
func (p *Publisher) Flush(ctx context.Context) error {
	select {
	case <-p.js.PublishAsyncComplete():
		return nil
	case <-ctx.Done():
		return fmt.Errorf("natsqueue: publisher flush: %d acks outstanding: %w", p.js.PublishAsyncPending(), ctx.Err())
	}
}

// Stats reads the counters.
func (p *Publisher) Stats() PublisherStats {
	return PublisherStats{
		Published: p.published.Load(),
		Acked:     p.acked.Load(),
		Failed:    p.failed.Load(),
		Skipped:   p.skipped.Load(),
		Pending:   p.js.PublishAsyncPending(),
	}
}

// onAck runs on the connection's ack-handling goroutine for each stored tick.
func (p *Publisher) onAck(_ jetstream.JetStream, _ *nats.Msg, _ *jetstream.PubAck) {
	p.acked.Add(1)
	if p.failing.CompareAndSwap(true, false) {
		p.log.Info("queue publisher: stream acks again")
	}
}

// onError runs for a publish the stream refused (full, say), that timed out,
// or whose connection dropped before the ack came. A disconnect fails every
// outstanding ack, though the ticks may well have been stored.
func (p *Publisher) onError(_ jetstream.JetStream, _ *nats.Msg, err error) {
	p.failed.Add(1)
	p.fail("no ack", err)
}

// fail logs the first failure of an episode; the counters tell the rest.
func (p *Publisher) fail(what string, err error) {
	if errors.Is(err, nats.ErrConnectionClosed) || p.js.Conn().IsClosed() {
		return // shutting down: acks still awaited time out a while later
	}
	if p.failing.CompareAndSwap(false, true) {
		p.log.Warn("queue publisher: ticks not stored in "+StreamName, "what", what, "err", err)
	}
}

package natspubsub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"

	"commlab/shared"
)

// flushTimeout bounds the round trip that confirms a new subscription with the
// server before Subscribe reports itself subscribed.
const flushTimeout = 5 * time.Second

// confirmSubscribed makes a PING/PONG round trip to the server. Subscribing
// only queues a SUB; once the server has answered the PING sent after it, it
// has the SUB, and from then on every matching publish reaches us. stopped
// is true when ctx ended first, which is not an error.
func confirmSubscribed(ctx context.Context, nc *nats.Conn) (stopped bool, err error) {
	flushCtx, cancel := context.WithTimeout(ctx, flushTimeout)
	defer cancel()
	err = nc.FlushWithContext(flushCtx)
	if ctx.Err() != nil {
		return true, nil
	}
	return false, err
}

// Options tune Subscribe. A nil *Options means the defaults.
type Options struct {
	// PendingMsgs is the subscription's client-side pending limit: how many
	// received messages may wait inside the client library until Subscribe takes
	// them. When they fill it, the library drops every new message for this
	// subscription (counted in Stats.Dropped) and reports ErrSlowConsumer.
	// Default 0: the library's limit for a synchronous subscription, the size
	// of its channel, 65,536 messages (and 64 MiB). A larger value is capped by
	// that channel all the same.
	PendingMsgs int

	// Delay is an artificial processing time per message, spent after fn
	// returns. It makes a subscriber deliberately slow. Default 0.
	Delay time.Duration

	// Stats counts what the subscriber sees; read it live. Default: a private
	// one. Stats.SlowConsumerEvents is counted only if nc was opened with
	// ErrorHandler(Stats, ...): see there.
	Stats *Stats

	// Log receives the subscription's start and end at Info and every message
	// at Debug. Default: discard.
	Log *slog.Logger
}

// Subscribe subscribes to subject on nc and calls fn with every tick that
// arrives, until ctx ends; then it unsubscribes and returns nil. fn runs on
// Subscribe's goroutine, one tick at a time, in the order the messages arrived,
// and t.Raw holds the exact bytes that were published.
//
// There is nothing to resume. Core NATS keeps no message: a tick published
// while this subscriber is disconnected, or dropped because it fell behind, is
// gone for it. The connection reconnects and re-subscribes by itself; Subscribe
// only counts what was lost. On a subject that promises every tick
// (SeesEveryTick) a missing seq is counted in Stats.Gaps; a narrower subject
// such as ticks.ACME skips seqs by design, so there Gaps stays 0.
//
// Subscribe returns an error when the subscription cannot be made or the
// connection is closed under it.
func Subscribe(ctx context.Context, nc *nats.Conn, subject string, fn func(shared.Tick), opts *Options) error {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Stats == nil {
		o.Stats = new(Stats)
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	log := o.Log.With("pattern", "pubsub", "subject", subject)

	// A synchronous subscription: the library's reader goroutine puts each
	// message in this subscription's pending queue, and the loop below takes
	// them out on the caller's goroutine. The queue, its limit and its drops
	// are the slow-consumer lesson, in plain sight.
	sub, err := nc.SubscribeSync(subject)
	if err != nil {
		return fmt.Errorf("natspubsub: subscribe %q: %w", subject, err)
	}
	r := &receiver{stats: o.Stats, log: log}
	defer func() {
		r.observe(sub) // the last reading: what was dropped, and what is left unread
		if err := sub.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
			log.Debug("pubsub: unsubscribe", "err", err)
		}
		o.Stats.Subscribed.Store(false)
		log.Info("pubsub: unsubscribed", "received", o.Stats.Received.Load(),
			"dropped", o.Stats.Dropped.Load(), "left_pending", o.Stats.Pending.Load())
	}()
	if o.PendingMsgs > 0 {
		if err := sub.SetPendingLimits(o.PendingMsgs, nats.DefaultSubPendingBytesLimit); err != nil {
			return fmt.Errorf("natspubsub: pending limit %d: %w", o.PendingMsgs, err)
		}
	}
	if SeesEveryTick(subject) {
		r.tracker = shared.NewTracker(0, &r.seqs)
	}

	// SubscribeSync only queued the SUB: wait until the server has it.
	stopped, err := confirmSubscribed(ctx, nc)
	if stopped {
		return nil
	}
	if err != nil {
		return fmt.Errorf("natspubsub: confirm subscription %q: %w", subject, err)
	}
	limit, _, err := sub.PendingLimits()
	if err != nil {
		return fmt.Errorf("natspubsub: pending limit of %q: %w", subject, err)
	}
	o.Stats.Subscribed.Store(true)
	log.Debug("pubsub: subscribed", "remote", nc.ConnectedUrl(), "pending_limit", limit, "delay", o.Delay)

	slowReported := false
	for {
		m, err := sub.NextMsgWithContext(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, nats.ErrSlowConsumer):
			// A synchronous subscription also says so here, once, if it is
			// still marked slow when we ask: no message comes with it, so
			// just ask again. The count is ErrorHandler's.
			r.observe(sub)
			level := slog.LevelDebug
			if !slowReported {
				level, slowReported = slog.LevelInfo, true
			}
			log.Log(ctx, level, "pubsub: slow consumer, the client library dropped messages",
				"dropped", o.Stats.Dropped.Load(), "err", err)
			continue
		case err != nil:
			return fmt.Errorf("natspubsub: next message on %q: %w", subject, err)
		}
		r.observe(sub)
		t, ok := r.accept(m, time.Now())
		if !ok {
			continue
		}
		fn(t)
		if o.Delay > 0 && shared.Sleep(ctx, o.Delay) != nil {
			return nil
		}
	}
}

// receiver turns messages into ticks and keeps the subscriber's accounts.
type receiver struct {
	stats   *Stats
	log     *slog.Logger
	tracker *shared.Tracker    // nil unless the subject promises every tick
	seqs    shared.ClientStats // the tracker's counters; Gaps are moved into stats
	epoch   string             // the feed's epoch, from the header of its ticks
	dropped int                // the library's drop count at the last reading
}

// observe reads the subscription's pending queue and drop count. It runs
// between messages: a subscriber that is busy cannot look.
func (r *receiver) observe(sub *nats.Subscription) {
	if msgs, _, err := sub.Pending(); err == nil {
		r.stats.Pending.Store(int64(msgs))
	}
	if dropped, err := sub.Dropped(); err == nil && dropped > r.dropped {
		r.stats.Dropped.Add(uint64(dropped - r.dropped))
		r.dropped = dropped
	}
}

// accept parses m and reports whether it is a tick to hand to fn, counting
// what it skips: messages that are not ticks, and duplicate seqs.
func (r *receiver) accept(m *nats.Msg, now time.Time) (shared.Tick, bool) {
	t, err := shared.ParseTick(m.Data) // validates, and copies the bytes into t.Raw
	if err != nil {
		r.stats.Invalid.Add(1)
		r.log.Warn("pubsub: skipped a message that is not a tick", "msg_subject", m.Subject, "err", err)
		return shared.Tick{}, false
	}
	if r.tracker != nil {
		// The feed stamps its epoch on every tick. A new epoch is a restarted
		// feed whose seqs start over: neither a gap nor a run of duplicates.
		if epoch := m.Header.Get(shared.EpochHeader); epoch != "" && epoch != r.epoch {
			if r.epoch != "" {
				r.log.Info("pubsub: feed restarted, seqs start over", "epoch", epoch, "seq", t.Seq)
				r.tracker = shared.NewTracker(t.Seq-1, &r.seqs)
			}
			r.epoch = epoch
		}
		if !r.tracker.Accept(t.Seq) {
			r.stats.Dups.Add(1)
			return shared.Tick{}, false
		}
		r.stats.Gaps.Add(r.seqs.Gaps.Swap(0))
	}
	r.stats.Received.Add(1)
	r.stats.LastSeq.Store(t.Seq)
	latency := now.Sub(time.UnixMicro(t.TUs))
	r.stats.latency.add(latency)
	r.log.Debug("pubsub: tick", "msg_subject", m.Subject, "seq", t.Seq, "latency", latency)
	return t, true
}

// SeesEveryTick reports whether subject matches every subject the feed
// publishes on, ticks.<SYMBOL>, and nothing else that carries ticks. Only then
// must its seqs run without a gap, so only then does Subscribe count Gaps and
// Dups. ticks.* qualifies because a symbol is a single token (letters, never a
// dot); ticks.ACME does not, and > would also match the queue's work.ticks,
// where the same ticks arrive a second time.
func SeesEveryTick(subject string) bool {
	return subject == "ticks.>" || subject == "ticks.*"
}

// ErrorHandler returns the connection option that hands a subscriber's
// asynchronous errors to its Stats and its log. Pass it when opening the
// connection the subscriber will use on its own:
//
//	nc, err := broker.Connect("pubsub-slow", natspubsub.ErrorHandler(stats, log))
//
// nats.go reports a slow consumer as ErrSlowConsumer to the connection's error
// handler, once per episode (from the first drop until a message fits in the
// queue again), on the library's callback goroutine. A handler belongs to a
// connection, not to a subscription, so the route to the right Stats is the
// connection itself: one subscriber, one connection, as in the demo. Polling
// sub.Dropped() instead gives exact counts, which Subscribe also reads, but not
// the moment a subscriber starts to fall behind. Without a handler of its own,
// nats.go prints every report to stderr.
func ErrorHandler(stats *Stats, log *slog.Logger) nats.Option {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
		subject := ""
		if sub != nil {
			subject = sub.Subject
		}
		if errors.Is(err, nats.ErrSlowConsumer) {
			stats.SlowConsumerEvents.Add(1)
			log.Debug("pubsub: slow consumer reported", "pattern", "pubsub", "subject", subject, "err", err)
			return
		}
		log.Warn("pubsub: asynchronous error", "pattern", "pubsub", "subject", subject, "err", err)
	})
}

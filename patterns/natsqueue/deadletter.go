package natsqueue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Headers a dead letter carries beside the original bytes.
const (
	DeadSeqHeader        = "Commlab-Dead-Stream-Seq" // its sequence in TICKWORK
	DeadDeliveriesHeader = "Commlab-Dead-Deliveries" // how often it was delivered ("" when found by the sweep)
	DeadSubjectHeader    = "Commlab-Dead-Subject"    // the subject it was published on
	deadQueueGroup       = "deadletters"             // several handlers share the advisories
	deadOpTimeout        = 5 * time.Second           // bounds each JetStream call of a move
	defaultSweepEvery    = 10 * time.Second
)

// DeadLetterOptions tune RunDeadLetters. A nil *DeadLetterOptions means the defaults.
type DeadLetterOptions struct {
	// SweepEvery is how often the stream is searched for messages whose
	// advisory was missed. Default 10s. Such a message is moved by the second
	// sweep that finds it, so within twice this.
	SweepEvery time.Duration

	// Moved, when set, counts the dead letters moved.
	Moved *atomic.Uint64

	// Log receives each move at Info. Default: discard.
	Log *slog.Logger
}

// deadLetters moves messages that used up MaxDeliver out of TICKWORK.
//
// The server gives up on such a message but leaves it in the stream, where no
// worker will ever see it again (nats-server #5564), and says so only once, in
// an advisory on core NATS: at most once, like any core message. So the
// handler listens to the advisories, and also sweeps the stream now and then
// for the messages whose advisory it missed (see sweep).
type deadLetters struct {
	js       jetstream.JetStream
	stream   jetstream.Stream
	consumer jetstream.Consumer
	sub      *nats.Subscription
	ch       chan *nats.Msg
	moved    *atomic.Uint64
	log      *slog.Logger
	suspects map[uint64]bool // found by the last sweep, to be moved if the next one finds them too
}

// startDeadLetters subscribes to the advisories; run handles them.
func startDeadLetters(ctx context.Context, nc *nats.Conn, moved *atomic.Uint64, log *slog.Logger) (*deadLetters, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("natsqueue: dead letters: %w", err)
	}
	d := &deadLetters{js: js, moved: moved, log: log, ch: make(chan *nats.Msg, 256)}
	if d.stream, err = js.Stream(ctx, StreamName); err != nil {
		return nil, fmt.Errorf("natsqueue: dead letters: stream %s (create it with SetupStreams): %w", StreamName, err)
	}
	if d.consumer, err = d.stream.Consumer(ctx, ConsumerName); err != nil {
		return nil, fmt.Errorf("natsqueue: dead letters: consumer %s: %w", ConsumerName, err)
	}
	// A queue group, so that several handlers (one per process) share the
	// work. A full channel drops advisories; the sweep picks those up.
	if d.sub, err = nc.ChanQueueSubscribe(maxDeliveriesAdvisory, deadQueueGroup, d.ch); err != nil {
		return nil, fmt.Errorf("natsqueue: dead letters: subscribe advisories: %w", err)
	}
	if err := nc.Flush(); err != nil {
		_ = d.sub.Unsubscribe()
		return nil, fmt.Errorf("natsqueue: dead letters: flush subscription: %w", err)
	}
	return d, nil
}

// run handles advisories and sweeps until ctx ends. Moves happen one at a
// time, so an advisory and a sweep that name the same message cannot both move it.
func (d *deadLetters) run(ctx context.Context, sweepEvery time.Duration) {
	defer func() { _ = d.sub.Unsubscribe() }()
	d.sweep(ctx) // messages given up on while no handler was listening: moved by the next sweep
	ticker := time.NewTicker(sweepEvery)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-d.ch:
			d.onAdvisory(ctx, m)
		case <-ticker.C:
			d.sweep(ctx)
		}
	}
}

// onAdvisory handles one MAX_DELIVERIES advisory:
//
//	{"type":"io.nats.jetstream.advisory.v1.max_deliver","stream":"TICKWORK",
//	 "consumer":"workers","stream_seq":42,"deliveries":5,...}
func (d *deadLetters) onAdvisory(ctx context.Context, m *nats.Msg) {
	var adv struct {
		StreamSeq  uint64 `json:"stream_seq"`
		Deliveries uint64 `json:"deliveries"`
	}
	if err := json.Unmarshal(m.Data, &adv); err != nil || adv.StreamSeq == 0 {
		d.log.Warn("queue dead letters: bad advisory", "data", string(m.Data), "err", err)
		return
	}
	if err := d.move(ctx, adv.StreamSeq, strconv.FormatUint(adv.Deliveries, 10)); err != nil {
		d.log.Warn("queue dead letters: move failed, the sweep retries", "stream_seq", adv.StreamSeq, "err", err)
	}
}

// sweep moves every message the consumer has given up on that is still in
// the stream. Which are those? The consumer does not list them, but its ack
// floor tells: every message at or below AckFloor.Stream has been acked or
// given up on (the server moves the floor past a message once it has used up
// MaxDeliver), and on a work queue an ack deletes the message. So a message
// still in the stream at or below the floor was given up on. The floor moves
// all the time on a busy queue, so this works under any load, with no need
// for a quiet moment.
//
// One catch: the server moves the floor a moment before it deletes an acked
// message. A message seen below the floor once may be one being deleted right
// now; one seen there by two sweeps in a row is a dead letter.
func (d *deadLetters) sweep(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, deadOpTimeout)
	defer cancel()
	info, err := d.consumer.Info(ctx)
	if err != nil {
		d.log.Debug("queue dead letters: sweep: consumer info", "err", err)
		return
	}
	floor := info.AckFloor.Stream
	var found []uint64
	for seq := uint64(1); seq <= floor; {
		// The next message at or after seq: one request, however many
		// sequences in between were acked and deleted.
		msg, err := d.stream.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(Subject))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if err != nil {
			d.log.Debug("queue dead letters: sweep", "seq", seq, "err", err)
			return // the suspects stay suspects until a sweep gets through
		}
		if msg.Sequence > floor {
			break
		}
		found = append(found, msg.Sequence)
		seq = msg.Sequence + 1
	}
	suspects := make(map[uint64]bool)
	for _, seq := range found {
		if !d.suspects[seq] {
			suspects[seq] = true // the next sweep decides
			continue
		}
		if err := d.move(ctx, seq, ""); err != nil {
			d.log.Warn("queue dead letters: sweep: move failed", "stream_seq", seq, "err", err)
			suspects[seq] = true // try again next time
		}
	}
	d.suspects = suspects
}

// move republishes message seq to work.dead, then deletes it from TICKWORK.
// In that order: a crash in between leaves a copy in both places, never in
// neither, and the message ID makes the next attempt's republish a no-op.
func (d *deadLetters) move(ctx context.Context, seq uint64, deliveries string) error {
	ctx, cancel := context.WithTimeout(ctx, deadOpTimeout)
	defer cancel()
	msg, err := d.stream.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil // already moved, by us or by another handler
	}
	if err != nil {
		return fmt.Errorf("get %d: %w", seq, err)
	}
	dead := nats.NewMsg(DeadSubject)
	dead.Data = msg.Data
	dead.Header.Set(DeadSeqHeader, strconv.FormatUint(seq, 10))
	dead.Header.Set(DeadDeliveriesHeader, deliveries)
	dead.Header.Set(DeadSubjectHeader, msg.Subject)
	dead.Header.Set(jetstream.MsgIDHeader, StreamName+"-"+strconv.FormatUint(seq, 10))
	if _, err := d.js.PublishMsg(ctx, dead); err != nil {
		return fmt.Errorf("publish %d to %s: %w", seq, DeadSubject, err)
	}
	if err := d.stream.DeleteMsg(ctx, seq); err != nil {
		return fmt.Errorf("delete %d: %w", seq, err)
	}
	if d.moved != nil {
		d.moved.Add(1)
	}
	d.log.Info("queue dead letter moved", "stream_seq", seq, "deliveries", deliveries, "to", DeadSubject)
	return nil
}

// RunDeadLetters handles dead letters on nc until ctx ends: every message of
// TICKWORK that used up MaxDeliver moves to work.dead (stream TICKDEAD). A
// Pool runs one of its own; run this where no Pool runs, e.g. beside workers
// that run as their own processes. Several may run at once.
func RunDeadLetters(ctx context.Context, nc *nats.Conn, opts *DeadLetterOptions) error {
	var o DeadLetterOptions
	if opts != nil {
		o = *opts
	}
	if o.SweepEvery <= 0 {
		o.SweepEvery = defaultSweepEvery
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	d, err := startDeadLetters(ctx, nc, o.Moved, o.Log.With("pattern", "queue"))
	if err != nil {
		return err
	}
	d.run(ctx, o.SweepEvery)
	return nil
}

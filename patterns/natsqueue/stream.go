package natsqueue

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The names both work queues agree on; the lab's contract lists them.
const (
	// Subject is where the feed publishes every tick once for the workers. The
	// core queue group subscribes to it, and the stream captures it, so that one
	// publish feeds both.
	Subject = "work.ticks"

	// QueueGroup is the core NATS queue group of the core workers.
	QueueGroup = "workers"

	// StreamName is the JetStream work queue holding Subject's messages until a
	// worker acks them.
	StreamName = "TICKWORK"

	// ConsumerName is the durable pull consumer every JetStream worker shares.
	ConsumerName = "workers"

	// DeadSubject is where messages go that no worker could process within
	// MaxDeliver attempts. DeadStreamName keeps them for inspection.
	DeadSubject    = "work.dead"
	DeadStreamName = "TICKDEAD"
)

// maxDeliveriesAdvisory is the subject on which the server announces a message
// that has used up MaxDeliver. The message itself stays in the stream.
const maxDeliveriesAdvisory = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES." + StreamName + "." + ConsumerName

// StreamOptions tune the work queue. A nil *StreamOptions means the defaults,
// which keep redelivery visible within seconds.
type StreamOptions struct {
	// AckWait is how long the server waits for a worker's ack before it
	// redelivers the message to another worker. Default 2s. Tests use less.
	AckWait time.Duration

	// MaxDeliver is how often a message is delivered before the server gives
	// up on it and announces it as undeliverable. Default 5.
	MaxDeliver int

	// MaxAckPending caps the messages out with workers, unacked, at one time.
	// Default 16: room for every worker's few prefetched ticks plus a dead
	// worker's, which count until AckWait passes.
	MaxAckPending int

	// Replicas is the number of servers holding each stream: 1 for the
	// embedded broker, 3 in a three-node cluster. Default 1.
	Replicas int
}

func (o *StreamOptions) withDefaults() StreamOptions {
	var s StreamOptions
	if o != nil {
		s = *o
	}
	if s.AckWait <= 0 {
		s.AckWait = 2 * time.Second
	}
	if s.MaxDeliver <= 0 {
		s.MaxDeliver = 5
	}
	if s.MaxAckPending <= 0 {
		s.MaxAckPending = 16
	}
	if s.Replicas <= 0 {
		s.Replicas = 1
	}
	return s
}

// SetupStreams creates, or updates to this configuration, the work queue
// stream TICKWORK with its consumer "workers", and the dead-letter stream
// TICKDEAD. Call it once at lab start, before the first tick is published: a
// publish to work.ticks before the stream exists reaches the core workers but
// is stored nowhere.
func SetupStreams(ctx context.Context, nc *nats.Conn, opts *StreamOptions) error {
	o := opts.withDefaults()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("natsqueue: jetstream: %w", err)
	}
	if _, err := js.CreateOrUpdateStream(ctx, workStream(o)); err != nil {
		return fmt.Errorf("natsqueue: stream %s: %w", StreamName, err)
	}
	if _, err := js.CreateOrUpdateConsumer(ctx, StreamName, workConsumer(o)); err != nil {
		return fmt.Errorf("natsqueue: consumer %s on %s: %w", ConsumerName, StreamName, err)
	}
	if _, err := js.CreateOrUpdateStream(ctx, deadStream(o)); err != nil {
		return fmt.Errorf("natsqueue: stream %s: %w", DeadStreamName, err)
	}
	return nil
}

// workStream is TICKWORK. Every limit is a choice about what happens when no
// worker keeps up:
//   - WorkQueuePolicy: a message is deleted as soon as a worker acks it, and
//     no two consumers may take the same message (their filters must not
//     overlap; this stream has the one consumer "workers").
//   - MaxAge 1h: a tick an hour old is worthless work. Expiry is the one way a
//     message leaves without a worker or the dead-letter path seeing it. At
//     the default 20 ticks/s it is the limit a lab without workers reaches
//     first, at 72,000 ticks.
//   - MaxMsgs 100,000 and MaxBytes 64 MiB bound the disk at higher rates
//     (above 27 ticks/s, an hour holds more than 100,000 ticks) and whatever
//     else lands on the subject: a tick with its epoch header takes about
//     150 bytes, so MaxMsgs is the one that binds for ticks.
//   - DiscardNew: when full, the stream refuses new ticks, and the publisher
//     counts each refusal as failed, rather than quietly deleting the oldest
//     work not yet done, as DiscardOld would.
//   - MaxMsgSize 4 KiB: room for any tick, none for a runaway publisher.
func workStream(o StreamOptions) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        StreamName,
		Description: "commlab: ticks to process, each by exactly one worker",
		Subjects:    []string{Subject},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    o.Replicas,
		MaxMsgs:     100_000,
		MaxBytes:    64 << 20,
		MaxAge:      time.Hour,
		MaxMsgSize:  4 << 10,
		Discard:     jetstream.DiscardNew,
	}
}

// workConsumer is the durable pull consumer "workers". Explicit acks are what
// make redelivery possible; a work queue requires them, and DeliverAll. The
// short AckWait brings a dead worker's messages back within seconds; the small
// MaxAckPending caps how many messages can be out with workers at all, so a
// dead worker can strand only a few of them for that long.
func workConsumer(o StreamOptions) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       ConsumerName,
		Description:   "commlab: the JetStream workers",
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       o.AckWait,
		MaxDeliver:    o.MaxDeliver,
		MaxAckPending: o.MaxAckPending,
		Replicas:      o.Replicas,
	}
}

// deadStream is TICKDEAD: the dead letters, kept a week for a person to look
// at, oldest dropped first. The duplicate window lets the dead-letter handler
// retry a move without storing the message twice.
func deadStream(o StreamOptions) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        DeadStreamName,
		Description: "commlab: messages no worker could process within MaxDeliver attempts",
		Subjects:    []string{DeadSubject},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    o.Replicas,
		MaxMsgs:     10_000,
		MaxBytes:    16 << 20,
		MaxAge:      7 * 24 * time.Hour,
		Discard:     jetstream.DiscardOld,
		Duplicates:  2 * time.Minute,
	}
}

package bench

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"commlab/patterns/natspubsub"
	"commlab/patterns/natsqueue"
	"commlab/shared"
)

// QueueGroup is the core NATS queue group bench's queue workers join on
// work.ticks. The lab's own workers are in group "workers" on the same
// subject; joined to that group, bench's workers would share the ticks with
// them and miss an unknowable part. In a group of their own they get every
// tick once between them, while the lab's workers go on as before.
const QueueGroup = "bench"

// connectNATS opens client c's own connection to the server's NATS, dialled
// from its source address and counting what it reads.
func connectNATS(e *env, c *client) (*nats.Conn, error) {
	nc, err := nats.Connect(e.natsURL,
		nats.Name(fmt.Sprintf("commlab-bench-%d", c.id)),
		nats.SetCustomDialer(natsDialer{d: c.dialer, bytes: &c.stats.Bytes}),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond),
		nats.ReconnectHandler(func(*nats.Conn) { c.stats.Reconnects.Add(1) }),
		nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}), // drops show up as gaps
	)
	if err != nil {
		return nil, fmt.Errorf("bench: nats connect %s: %w", e.natsURL, err)
	}
	return nc, nil
}

// runPubSub is one subscriber on ticks.>, the pub/sub pattern's own.
func runPubSub(ctx context.Context, e *env, c *client) error {
	nc, err := connectNATS(e, c)
	if err != nil {
		return err
	}
	defer nc.Close()
	stats := new(natspubsub.Stats)
	c.libDups.Store(&stats.Dups)
	return natspubsub.Subscribe(ctx, nc, "ticks.>", c.receive, &natspubsub.Options{Stats: stats})
}

// runQueue is one core queue worker in bench's own group, doing no work but
// noting each tick.
func runQueue(ctx context.Context, e *env, c *client) error {
	nc, err := connectNATS(e, c)
	if err != nil {
		return err
	}
	defer nc.Close()
	sub, err := nc.QueueSubscribeSync(natsqueue.Subject, QueueGroup)
	if err != nil {
		return fmt.Errorf("bench: queue subscribe: %w", err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	flushCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err = nc.FlushWithContext(flushCtx) // a round trip: the server has the subscription
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("bench: queue subscribe: %w", err)
	}
	c.ready.Store(true)
	for {
		m, err := sub.NextMsgWithContext(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, nats.ErrSlowConsumer):
			continue // the drops show up as gaps
		case err != nil:
			return fmt.Errorf("bench: queue next message: %w", err)
		}
		t, err := shared.ParseTick(m.Data)
		if err != nil {
			continue
		}
		c.receive(t)
	}
}

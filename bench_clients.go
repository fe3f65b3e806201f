package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"commlab/patterns/natspubsub"
	"commlab/patterns/natsqueue"
	"commlab/patterns/polling"
	"commlab/patterns/sse"
	"commlab/patterns/websocket"
	"commlab/shared"
	"commlab/shared/bench"
)

// benchLoaders are how bench loads each pattern: with the pattern's own Go
// client, the one the demos and the tests use, each client on a connection
// of its own, from its own source address, counting what it reads.
var benchLoaders = map[string]bench.Loader{
	"poll":     {Run: benchPoll, FanOut: true},
	"longpoll": {Run: benchLongPoll, FanOut: true},
	"sse":      {Run: benchSSE, FanOut: true},
	"ws":       {Run: benchWS, FanOut: true},
	"pubsub":   {Run: benchPubSub, NATS: true, FanOut: true},
	"queue":    {Run: benchQueue, NATS: true, Group: benchQueueGroup},
}

func benchPoll(ctx context.Context, c *bench.Client) error {
	hc := c.HTTPClient()
	defer hc.CloseIdleConnections()
	return polling.Poll(ctx, c.URL, c.Receive, &polling.Options{Interval: c.PollInterval, HTTPClient: hc, Stats: c.Stats})
}

func benchLongPoll(ctx context.Context, c *bench.Client) error {
	hc := c.HTTPClient()
	defer hc.CloseIdleConnections()
	return polling.Poll(ctx, c.URL, c.Receive, &polling.Options{Wait: c.LongPollWait, HTTPClient: hc, Stats: c.Stats})
}

func benchSSE(ctx context.Context, c *bench.Client) error {
	hc := c.HTTPClient()
	defer hc.CloseIdleConnections()
	return sse.Subscribe(ctx, c.URL, c.Receive, &sse.ClientOptions{HTTPClient: hc, Stats: c.Stats})
}

func benchWS(ctx context.Context, c *bench.Client) error {
	hc := c.HTTPClient()
	defer hc.CloseIdleConnections()
	return websocket.Subscribe(ctx, c.URL, c.Receive, &websocket.ClientOptions{HTTPClient: hc, Stats: c.Stats})
}

// benchQueueGroup is the core NATS queue group bench's queue workers join on
// work.ticks. The lab's own workers are in group "workers" on the same
// subject; joined to that group, bench's workers would share the ticks with
// them and miss an unknowable part. In a group of their own they get every
// tick once between them, while the lab's workers go on as before.
const benchQueueGroup = "bench"

// benchNATS opens client c's own connection to the server's NATS.
func benchNATS(c *bench.Client) (*nats.Conn, error) {
	nc, err := nats.Connect(c.NATSURL,
		nats.Name(fmt.Sprintf("commlab-bench-%d", c.ID)),
		nats.SetCustomDialer(c.NATSDialer()),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond),
		nats.ReconnectHandler(func(*nats.Conn) { c.Stats.Reconnects.Add(1) }),
		nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}), // drops show up as gaps
	)
	if err != nil {
		return nil, fmt.Errorf("bench: nats connect %s: %w", c.NATSURL, err)
	}
	return nc, nil
}

// benchPubSub is one subscriber on ticks.>, the pub/sub pattern's own.
func benchPubSub(ctx context.Context, c *bench.Client) error {
	nc, err := benchNATS(c)
	if err != nil {
		return err
	}
	defer nc.Close()
	stats := new(natspubsub.Stats)
	c.CountDups(&stats.Dups)
	return natspubsub.Subscribe(ctx, nc, "ticks.>", c.Receive, &natspubsub.Options{Stats: stats})
}

// benchQueue is one core queue worker in bench's own group, doing no work but
// noting each tick.
func benchQueue(ctx context.Context, c *bench.Client) error {
	nc, err := benchNATS(c)
	if err != nil {
		return err
	}
	defer nc.Close()
	sub, err := nc.QueueSubscribeSync(natsqueue.Subject, benchQueueGroup)
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
	c.Ready()
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
		c.Receive(t)
	}
}

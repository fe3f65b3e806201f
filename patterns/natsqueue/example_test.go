package natsqueue_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"commlab/patterns/natsqueue"
	"commlab/shared"
)

// Example wires the work queues as the lab does: the streams first, then the
// publisher on the feed, then a pool of workers of both kinds.
func Example() {
	ctx := context.Background()
	broker, err := shared.StartBroker(shared.BrokerConfig{Listen: "127.0.0.1:0"})
	if err != nil {
		log.Fatal(err)
	}
	defer broker.Close()
	feedConn, err := broker.Connect("feed")
	if err != nil {
		log.Fatal(err)
	}
	defer feedConn.Close()

	// TICKWORK must exist before the first tick, or the tick is stored nowhere.
	if err := natsqueue.SetupStreams(ctx, feedConn, nil); err != nil {
		log.Fatal(err)
	}
	feed, err := shared.NewFeed(feedConn, 42, shared.DefaultSymbols, 0)
	if err != nil {
		log.Fatal(err)
	}
	pub, err := natsqueue.NewPublisher(feedConn, &natsqueue.PublisherOptions{Epoch: feed.Epoch()})
	if err != nil {
		log.Fatal(err)
	}
	feed.AlsoPublish(pub.Publish) // every tick also goes to work.ticks, once

	// Each worker gets a connection of its own.
	pool, err := natsqueue.StartPool(ctx, broker.Connect, &natsqueue.PoolOptions{Core: 2, JetStream: 2, Publisher: pub})
	if err != nil {
		log.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second) // a graceful stop, bounded
		defer cancel()
		pool.Close(ctx)
	}()

	for range 20 {
		if _, err := feed.Publish(); err != nil {
			log.Fatal(err)
		}
	}
	s := settled(pool, 20)
	fmt.Printf("core: published %d, processed %d, lost %d\n", s.Core.Published, s.Core.Processed, s.Core.Lost)
	fmt.Printf("jetstream: published %d, processed %d, pending %d\n", s.JetStream.Published, s.JetStream.Processed, s.JetStream.Pending)
	fmt.Printf("publisher: acked %d\n", s.Publisher.Acked)
	// Output:
	// core: published 20, processed 20, lost 0
	// jetstream: published 20, processed 20, pending 0
	// publisher: acked 20
}

// settled polls the pool until both queues have all n ticks and nothing is
// in flight, for at most 10 seconds.
func settled(pool *natsqueue.Pool, n uint64) natsqueue.Snapshot {
	deadline := time.Now().Add(10 * time.Second)
	for {
		s := pool.Snapshot(context.Background())
		done := s.Core.Published == n && s.Core.InFlight == 0 &&
			s.JetStream.Published == n && s.JetStream.Pending == 0
		if done || time.Now().After(deadline) {
			return s
		}
		time.Sleep(10 * time.Millisecond)
	}
}

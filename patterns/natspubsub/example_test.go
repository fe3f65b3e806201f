package natspubsub_test

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/nats-io/nats.go"

	"commlab/patterns/natspubsub"
	"commlab/shared"
)

// Subscribe to one symbol on a running lab's NATS server (`go run .` listens on
// nats://127.0.0.1:4222), or the one in NATS_URL, and print ten ticks. The
// subscriber has a connection of its own, with ErrorHandler routing the
// library's slow-consumer reports to its stats.
func ExampleSubscribe() {
	url := cmp.Or(os.Getenv("NATS_URL"), nats.DefaultURL)
	stats := new(natspubsub.Stats)
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	nc, err := nats.Connect(url, nats.Name("example-acme"), natspubsub.ErrorHandler(stats, log))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer nc.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := 0
	err = natspubsub.Subscribe(ctx, nc, "ticks.ACME", func(t shared.Tick) {
		fmt.Printf("%s\n", t.Raw) // the bytes as published
		if n++; n == 10 {
			cancel() // Subscribe returns nil once the tick in hand is done
		}
	}, &natspubsub.Options{Stats: stats, Log: log})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("received %d, dropped %d\n", stats.Received.Load(), stats.Dropped.Load())
}

// Which subjects promise every tick, so that a missing seq is a lost tick?
func ExampleSeesEveryTick() {
	for _, subject := range []string{"ticks.>", "ticks.*", "ticks.ACME", ">"} {
		fmt.Printf("%-10s %v\n", subject, natspubsub.SeesEveryTick(subject))
	}
	// Output:
	// ticks.>    true
	// ticks.*    true
	// ticks.ACME false
	// >          false
}

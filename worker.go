package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"golang.org/x/sync/errgroup"

	"commlab/patterns/natsqueue"
	"commlab/shared"
)

// worker runs one queue worker as its own process, joined to a running lab's
// NATS: `go run . worker --kind jetstream` beside `go run .` adds a fourth
// JetStream worker to the lab's three; in docker compose each worker is a
// container. Ctrl-C (SIGINT, or SIGTERM) stops it gracefully: it finishes, and
// acks, what it holds, for at most 5 s. `kill -9` is the real crash.
//
// The lab cannot see such a worker. Its /api/stats counts what its own
// workers do: the ticks this one takes from the core queue group show up
// there as unknown, not as lost.
func worker(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs, w := workerFlags(getenv)
	fs.SetOutput(stderr)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	kind, err := natsqueue.ParseKind(w.kind)
	if err != nil {
		return err
	}
	if w.name == "" {
		host, _ := os.Hostname()
		w.name = fmt.Sprintf("%s-%s-%d", kind, host, os.Getpid())
	}
	log := newLogger(stderr, slog.LevelInfo)
	broker, err := shared.StartBroker(shared.BrokerConfig{URL: w.natsURL, Logger: log})
	if err != nil {
		return err
	}
	defer broker.Close()
	nc, err := broker.Connect(w.name)
	if err != nil {
		return err
	}
	defer func() {
		drainCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		drain(drainCtx, nc)
	}()
	fmt.Fprintf(stdout, "worker %s (%s) on %s: work.ticks, queue group %q / consumer %q. Ctrl-C stops it gracefully; kill -9 is a crash.\n",
		w.name, kind, broker.URL(), natsqueue.QueueGroup, natsqueue.ConsumerName)

	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		return natsqueue.RunWorker(ctx, nc, kind, w.name, &natsqueue.WorkerOptions{WorkTime: w.workTime, Log: log})
	})
	if w.deadLetters {
		g.Go(func() error { return natsqueue.RunDeadLetters(ctx, nc, &natsqueue.DeadLetterOptions{Log: log}) })
	}
	return g.Wait()
}

// workerConfig is what `commlab worker` is told.
type workerConfig struct {
	kind, name, natsURL string
	workTime            time.Duration
	deadLetters         bool
}

func workerFlags(getenv func(string) string) (*flag.FlagSet, *workerConfig) {
	w := &workerConfig{}
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	fs.StringVar(&w.kind, "kind", "jetstream", "core (queue group, at-most-once) or jetstream (work queue, at-least-once)")
	fs.StringVar(&w.name, "name", "", "the worker's name in logs and in NATS (default: kind-host-pid)")
	fs.StringVar(&w.natsURL, "nats-url", envOr(getenv, "NATS_URL", "nats://"+defaultNATSListen), "the lab's NATS (env NATS_URL)")
	fs.DurationVar(&w.workTime, "work-time", natsqueue.DefaultWorkTime, "how long the job of one tick takes")
	fs.BoolVar(&w.deadLetters, "dead-letters", false, "also move ticks that exhausted their deliveries to work.dead (run one where the lab runs no workers)")
	return fs, w
}

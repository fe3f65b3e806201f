package main

import (
	"flag"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// The lab's default addresses, as the contract states them.
const (
	defaultAddr       = "127.0.0.1:8080"
	defaultNATSListen = "127.0.0.1:4222"
)

// config is everything a lab process needs to know. Flags override the
// environment (COMMLAB_ADDR, NATS_URL), which overrides the defaults.
type config struct {
	addr          string
	natsURL       string
	natsListen    string
	dataDir       string
	rate          int
	seed          uint64
	history       int
	allowOrigins  []string
	queueLen      int
	sseHeartbeat  time.Duration
	wsPing        time.Duration
	linger        time.Duration
	logLevel      slog.Level
	shutdownGrace time.Duration
	natsPatterns  bool // run the lab's own NATS subscribers and queue workers
	workQueue     bool // publish to work.ticks and keep the TICKWORK stream; differs from natsPatterns only in the NATS demos, which bring their own workers
}

// labFlags declares the flags every command that starts a lab accepts. The
// demo passes its own defaults for the two listen addresses so that it can run
// next to a lab that is already serving.
func labFlags(name string, getenv func(string) string, addr, natsListen string) (*flag.FlagSet, *config) {
	cfg := &config{shutdownGrace: 5 * time.Second, natsPatterns: true, workQueue: true}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.StringVar(&cfg.addr, "addr", envOr(getenv, "COMMLAB_ADDR", addr), "HTTP address to serve on (env COMMLAB_ADDR); port 0 picks a free one")
	fs.StringVar(&cfg.natsURL, "nats-url", getenv("NATS_URL"), "external NATS server or cluster, comma-separated (env NATS_URL); empty: run an embedded server")
	fs.StringVar(&cfg.natsListen, "nats-listen", natsListen, "address the embedded NATS server listens on, for the nats CLI and other processes")
	fs.StringVar(&cfg.dataDir, "data", "", "JetStream data directory of the embedded server; empty: a temp dir removed at exit")
	fs.IntVar(&cfg.rate, "rate", 20, "feed rate in ticks per second across all symbols (0 pauses; changeable at run time)")
	fs.Uint64Var(&cfg.seed, "seed", 1, "seed of the price random walk: the same seed gives the same prices")
	fs.IntVar(&cfg.history, "history", 10_000, "ticks the gateway holds for polling and for resuming streams")
	fs.Func("allow-origin", "extra browser Origin allowed to open WebSockets, a host pattern such as 'localhost:*' (repeatable)", func(v string) error {
		for _, o := range strings.Split(v, ",") {
			if o = strings.TrimSpace(o); o != "" {
				cfg.allowOrigins = append(cfg.allowOrigins, o)
			}
		}
		return nil
	})
	fs.BoolFunc("nats-patterns", "run the lab's pub/sub subscribers and its work queue (work.ticks, the TICKWORK stream, the workers); =false leaves the feed, the HTTP patterns and ticks.<SYMBOL> for any subscriber, as commlab bench does to measure a pattern on its own (default true)", func(v string) error {
		on, err := strconv.ParseBool(v)
		cfg.natsPatterns, cfg.workQueue = on, on
		return err
	})
	fs.IntVar(&cfg.queueLen, "queue", 256, "ticks queued per streaming client before it counts as too slow and is cut off")
	fs.DurationVar(&cfg.sseHeartbeat, "sse-heartbeat", 15*time.Second, "interval of SSE heartbeat comments")
	fs.DurationVar(&cfg.wsPing, "ws-ping", 20*time.Second, "interval of WebSocket keep-alive pings")
	fs.DurationVar(&cfg.linger, "linger", 0, "hold live ticks up to this long before SSE and WebSocket clients get them, so one write carries several: less server CPU per tick, more latency; pays off only when ticks come faster than this; at most 1s (0: each tick at once)")
	fs.Func("log-level", "debug, info, warn or error (default info)", func(v string) error {
		return cfg.logLevel.UnmarshalText([]byte(v))
	})
	return fs, cfg
}

func (c *config) validate() error {
	switch {
	case c.rate < 0 || c.rate > 10_000:
		return fmt.Errorf("--rate %d: want 0..10000 ticks/s", c.rate)
	case c.history < 1 || c.history > 1_000_000:
		return fmt.Errorf("--history %d: want 1..1000000 ticks", c.history)
	case c.sseHeartbeat <= 0 || c.wsPing <= 0:
		return fmt.Errorf("--sse-heartbeat and --ws-ping want positive durations")
	case c.queueLen < 1:
		return fmt.Errorf("--queue %d: want at least 1", c.queueLen)
	case c.linger < 0 || c.linger > time.Second:
		return fmt.Errorf("--linger %v: want 0..1s", c.linger)
	}
	return nil
}

// parseFlags parses args and refuses leftovers: "commlab serve extra --rate 5"
// would otherwise stop at "extra" and silently ignore --rate.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected argument %q (flags go after the command)", fs.Name(), fs.Arg(0))
	}
	return nil
}

func envOr(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}

package bench

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// Patterns are the patterns bench knows, in the order the course teaches them.
var Patterns = []string{"poll", "longpoll", "sse", "ws", "pubsub", "queue"}

// Options say what to measure. The zero value of a field means its default.
type Options struct {
	Patterns     []string      // which patterns; default all of Patterns
	Clients      int           // clients per pattern (queue: workers); default 100
	Rate         int           // feed rate, ticks/s; default 100
	Duration     time.Duration // the measured window; default 7s
	Warmup       time.Duration // between all connected and the window; default 1s
	PollInterval time.Duration // short polling's pause between requests; default 1s
	LongPollWait time.Duration // how long a long poll may be held; default 25s
	Drain        time.Duration // the most to wait after the window for ticks in flight; default max(10s, 2 x PollInterval)
	SrcIPs       int           // spread connections over 127.0.0.1..127.0.0.N; default 1
	Together     bool          // load all Patterns at once, on one server, instead of one after another

	// Loaders run each pattern's client, one Loader per name in Patterns.
	Loaders map[string]Loader

	// URL is the server under test. Empty: Start starts a fresh lab for every
	// round, so each pattern's server figures are its own.
	URL   string
	Start StartFunc

	// Search, if not nil, replaces the comparison with a search for the most
	// clients each pattern serves within an SLO.
	Search *Search

	// Progress receives a line saying what runs and how far it is; nil:
	// none. With LiveProgress (a terminal) the line is rewritten in place.
	Progress     io.Writer
	LiveProgress bool
}

// Search looks, per pattern, for the largest client count whose round passes:
// every client connected, no gap, and p99 latency within SLOP99. It starts at
// Options.Clients, doubles until a round fails or Limit is reached, then halves
// the distance between the last pass and the first failure a few times.
type Search struct {
	SLOP99 time.Duration // default 50ms
	Limit  int           // the most clients to try; default 10,000
}

// Server is one server under test.
type Server struct {
	URL   string
	Close func() error // stops a lab that Start started; nil for Options.URL
}

// StartFunc starts a fresh lab feeding rate ticks/s, as a process of its own,
// for a round of the given patterns, and returns once it serves.
type StartFunc func(ctx context.Context, rate int, patterns []string) (*Server, error)

func (o Options) withDefaults() Options {
	if len(o.Patterns) == 0 {
		o.Patterns = Patterns
	}
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def(&o.Clients, 100)
	def(&o.Rate, 100)
	def(&o.SrcIPs, 1)
	defDur(&o.Duration, 7*time.Second)
	defDur(&o.Warmup, time.Second)
	defDur(&o.PollInterval, time.Second)
	defDur(&o.LongPollWait, 25*time.Second)
	defDur(&o.Drain, max(10*time.Second, 2*o.PollInterval))
	if o.Search != nil {
		s := *o.Search
		defDur(&s.SLOP99, 50*time.Millisecond)
		def(&s.Limit, 10_000)
		o.Search = &s
	}
	return o
}

func (o Options) validate() error {
	for _, p := range o.Patterns {
		if !slices.Contains(Patterns, p) {
			return fmt.Errorf("bench: unknown pattern %q (want some of %s)", p, strings.Join(Patterns, ","))
		}
		if o.Loaders[p].Run == nil {
			return fmt.Errorf("bench: no loader for pattern %q", p)
		}
	}
	switch {
	case o.Clients < 1:
		return fmt.Errorf("bench: --clients %d: want at least 1", o.Clients)
	case o.Rate < 1 || o.Rate > 10_000:
		return fmt.Errorf("bench: --rate %d: want 1..10000 ticks/s", o.Rate)
	case o.Duration < 100*time.Millisecond:
		return fmt.Errorf("bench: --duration %s: want at least 100ms", o.Duration)
	case o.Warmup < 0 || o.Drain < 0:
		return fmt.Errorf("bench: --warmup and --drain want durations of 0 or more")
	case o.PollInterval <= 0:
		return fmt.Errorf("bench: --poll-interval %s: want a positive duration", o.PollInterval)
	case o.LongPollWait <= 0 || o.LongPollWait > 30*time.Second:
		return fmt.Errorf("bench: --long-poll-wait %s: want above 0 and at most 30s", o.LongPollWait)
	case o.SrcIPs < 1 || o.SrcIPs > 254:
		return fmt.Errorf("bench: --src-ips %d: want 1..254", o.SrcIPs)
	case o.URL == "" && o.Start == nil:
		return fmt.Errorf("bench: no server: want a URL or a way to start a lab")
	case o.Search != nil && o.Search.Limit < o.Clients:
		return fmt.Errorf("bench: search limit %d is below --clients %d", o.Search.Limit, o.Clients)
	case o.Search != nil && o.Together:
		return fmt.Errorf("bench: the client search runs one pattern at a time; leave out --together")
	}
	return nil
}

package natspubsub

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"golang.org/x/sync/errgroup"

	"commlab/shared"
)

// Connect opens a new NATS connection with the given client name and extra
// options. (*shared.Broker).Connect is one.
type Connect func(name string, opts ...nats.Option) (*nats.Conn, error)

// Spec describes one subscriber of a Group.
type Spec struct {
	Name        string        // short, shown in brackets: [slow]; its connection is named "pubsub-<Name>"
	Subject     string        // what it subscribes to, wildcards allowed
	PendingMsgs int           // Options.PendingMsgs; 0: the library's default
	Delay       time.Duration // Options.Delay: artificial work per message
	About       string        // one line for a learner: what this subscriber shows
}

// DemoSubscribers are the four subscribers of `commlab demo pubsub`.
//
// slow handles 10 messages a second and may hold 20 waiting. At the default 20
// ticks/s its queue is full after about 2 s; from then on the library drops
// about every other tick for it, and what it does get is about 2 s old
// (20 waiting x 100 ms). A Delay of 50 ms would match 20 ticks/s on paper and
// fall behind only by the sleep's own overshoot, too slowly to watch.
func DemoSubscribers() []Spec {
	return []Spec{
		{Name: "all", Subject: "ticks.>", About: "> matches one or more tokens: every tick"},
		{Name: "acme", Subject: "ticks.ACME", About: "one exact subject: ACME's ticks only; the server filters"},
		{Name: "wild", Subject: "ticks.*", About: "* matches exactly one token: every ticks.<SYMBOL>, never ticks.ACME.x"},
		{Name: "slow", Subject: "ticks.>", PendingMsgs: 20, Delay: 100 * time.Millisecond,
			About: "every tick, but 100ms of work each and room for 20 waiting: the client library drops the rest"},
	}
}

// Group runs subscribers side by side, each on a NATS connection of its own,
// as separate programs would, and keeps their stats: for the demo's printout,
// and for the lab's /api/stats through Snapshot.
type Group struct {
	specs []Spec
	stats []*Stats
}

// NewGroup returns a group of the given subscribers, not yet running.
func NewGroup(specs []Spec) *Group {
	g := &Group{specs: specs, stats: make([]*Stats, len(specs))}
	for i := range specs {
		g.stats[i] = new(Stats)
	}
	return g
}

// Specs returns the group's subscribers.
func (g *Group) Specs() []Spec { return g.specs }

// Stats returns the stats of the subscriber called name, or nil.
func (g *Group) Stats(name string) *Stats {
	for i, s := range g.specs {
		if s.Name == name {
			return g.stats[i]
		}
	}
	return nil
}

// SubscriberSnapshot is one subscriber's configuration and counters, as
// /api/stats shows them.
type SubscriberSnapshot struct {
	Name          string  `json:"name"`
	Subject       string  `json:"subject"`
	PendingLimit  int     `json:"pending_limit"` // 0: the library's default
	DelayMs       float64 `json:"delay_ms"`
	SeesEveryTick bool    `json:"sees_every_tick"` // false: gaps are not counted, the subject skips seqs by design
	StatsSnapshot
}

// Snapshot reads every subscriber's counters, in the group's order.
func (g *Group) Snapshot() []SubscriberSnapshot {
	out := make([]SubscriberSnapshot, len(g.specs))
	for i, s := range g.specs {
		out[i] = SubscriberSnapshot{
			Name:          s.Name,
			Subject:       s.Subject,
			PendingLimit:  s.PendingMsgs,
			DelayMs:       ms(s.Delay),
			SeesEveryTick: SeesEveryTick(s.Subject),
			StatsSnapshot: g.stats[i].Snapshot(),
		}
	}
	return out
}

// Run connects every subscriber and runs them until ctx ends, then closes
// their connections and returns nil. each, if not nil, is called with every
// tick a subscriber receives, on that subscriber's goroutine: calls for
// different subscribers overlap. A subscriber that fails ends them all, and
// Run returns its error. Run a group once at a time.
func (g *Group) Run(ctx context.Context, connect Connect, log *slog.Logger, each func(name string, t shared.Tick)) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	conns := make([]*nats.Conn, 0, len(g.specs))
	defer func() {
		for _, nc := range conns {
			nc.Close()
		}
	}()
	for i, s := range g.specs {
		nc, err := connect("pubsub-"+s.Name, ErrorHandler(g.stats[i], log))
		if err != nil {
			return fmt.Errorf("natspubsub: connect subscriber %s: %w", s.Name, err)
		}
		conns = append(conns, nc)
	}

	eg, ctx := errgroup.WithContext(ctx)
	for i, s := range g.specs {
		eg.Go(func() error {
			fn := func(shared.Tick) {}
			if each != nil {
				fn = func(t shared.Tick) { each(s.Name, t) }
			}
			err := Subscribe(ctx, conns[i], s.Subject, fn, &Options{
				PendingMsgs: s.PendingMsgs,
				Delay:       s.Delay,
				Stats:       g.stats[i],
				Log:         log.With("subscriber", s.Name),
			})
			if err != nil {
				return fmt.Errorf("subscriber %s: %w", s.Name, err)
			}
			return nil
		})
	}
	return eg.Wait()
}

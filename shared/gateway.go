package shared

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

// Why the gateway ends its clients' subscriptions.
var (
	ErrFeedRestarted = errors.New("feed restarted under a new epoch")
	ErrGatewayClosed = errors.New("gateway closed")
)

// Gateway is the HTTP side's view of the feed: it subscribes to ticks.> on NATS,
// keeps the recent ticks in a History, and fans each one out through a Hub to the
// clients of every HTTP pattern. Several gateways can follow one feed, each on its
// own NATS connection; that is how the lab scales out.
type Gateway struct {
	History *History
	Hub     *Hub

	// Linger, when above zero, holds live ticks up to this long before the hub
	// fans them out, so that streams send several in one write (lingerHub).
	// The history has every tick at once. Set it before Start.
	Linger time.Duration
	linger *lingerHub // nil without Linger

	log     *slog.Logger
	sub     *nats.Subscription
	mu      sync.Mutex
	epoch   string
	invalid atomic.Uint64 // messages on ticks.> that were not valid ticks
}

// NewGateway returns a gateway holding up to historySize ticks.
func NewGateway(historySize int, log *slog.Logger) *Gateway {
	return &Gateway{History: NewHistory(historySize), Hub: NewHub(), log: log}
}

// Start subscribes to the feed on nc. Stop with Close.
func (g *Gateway) Start(nc *nats.Conn) error {
	if g.Linger > 0 {
		g.linger = newLingerHub(g.Hub, g.Linger)
	}
	sub, err := nc.Subscribe("ticks.>", g.receive)
	if err != nil {
		return fmt.Errorf("gateway: subscribe ticks.>: %w", err)
	}
	// The gateway must never be the one that drops ticks: allow a deep backlog.
	if err := sub.SetPendingLimits(1_000_000, 256<<20); err != nil {
		_ = sub.Unsubscribe()
		return fmt.Errorf("gateway: pending limits: %w", err)
	}
	// Subscribe only queues the SUB; a round trip makes sure the broker has it
	// before anyone publishes, so the first ticks are not lost.
	if err := nc.Flush(); err != nil {
		_ = sub.Unsubscribe()
		return fmt.Errorf("gateway: flush subscription: %w", err)
	}
	g.sub = sub
	return nil
}

// Close unsubscribes and ends every client subscription.
func (g *Gateway) Close() {
	if g.sub != nil {
		_ = g.sub.Unsubscribe()
	}
	if g.linger != nil {
		g.linger.stop() // what clients were sent before the cut, they get
	}
	g.Hub.CutAll(ErrGatewayClosed)
}

// Epoch returns the epoch of the feed the gateway follows ("" before any tick).
func (g *Gateway) Epoch() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.epoch
}

// Invalid counts messages on ticks.> that were not valid ticks and were dropped.
func (g *Gateway) Invalid() uint64 { return g.invalid.Load() }

// receive runs on the subscription's single goroutine, so ticks are appended and
// published in the order NATS delivered them.
func (g *Gateway) receive(m *nats.Msg) {
	t, err := ParseTick(m.Data)
	if err != nil {
		g.invalid.Add(1)
		g.log.Warn("gateway: dropped invalid message", "subject", m.Subject, "err", err)
		return
	}
	epoch := m.Header.Get(EpochHeader)
	if epoch == "" {
		// Only the feed stamps its epoch. A hand-made tick (nats pub) would
		// otherwise look like a feed restart and cut every client.
		g.invalid.Add(1)
		g.log.Warn("gateway: dropped tick without epoch header", "subject", m.Subject)
		return
	}
	if epoch != g.Epoch() {
		g.mu.Lock()
		old := g.epoch
		g.epoch = epoch
		g.mu.Unlock()
		if old != "" {
			g.log.Info("gateway: feed restarted", "old_epoch", old, "epoch", epoch)
			if g.linger != nil {
				g.linger.flush() // the old epoch's last ticks, before the reset
			}
			g.History.Reset()
			g.Hub.CutAll(ErrFeedRestarted)
		}
	}
	g.History.Append(&t)
	if g.linger != nil {
		g.linger.add(&t)
		return
	}
	g.Hub.Publish(&t)
}

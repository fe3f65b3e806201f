package shared

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

// MaxRate bounds the feed rate, in ticks per second.
const MaxRate = 10_000

// EpochHeader is the NATS header that carries the feed's epoch beside each tick,
// so gateways notice a restarted feed without touching the tick bytes.
const EpochHeader = "Commlab-Epoch"

// TickSubject is the NATS subject a tick for symbol is published on.
func TickSubject(symbol string) string { return "ticks." + symbol }

// Feed produces ticks at a steady rate and publishes each one to NATS subject
// ticks.<SYMBOL>. It encodes every tick once; everything downstream forwards
// those bytes.
type Feed struct {
	nc       *nats.Conn
	walk     *Walk
	symbols  []string
	subjects map[string]string
	epoch    string

	rate        atomic.Uint64 // ticks per second
	rateChanged chan struct{}
	failed      atomic.Uint64 // ticks Run could not publish
	mu          sync.Mutex    // guards walk, lastSeq and also: Run and Publish may both publish
	lastSeq     uint64
	also        []func(Tick) error
}

// NewFeed returns a feed that publishes on nc, starting a new epoch at seq 1.
func NewFeed(nc *nats.Conn, seed uint64, symbols []string, rate int) (*Feed, error) {
	f := &Feed{
		nc:          nc,
		walk:        NewWalk(seed, symbols, 1),
		symbols:     symbols,
		subjects:    make(map[string]string, len(symbols)),
		epoch:       newEpoch(),
		rateChanged: make(chan struct{}, 1),
	}
	if len(symbols) == 0 {
		return nil, errors.New("feed: no symbols")
	}
	for _, s := range symbols {
		if !ValidSymbol(s) {
			return nil, fmt.Errorf("feed: invalid symbol %q", s)
		}
		f.subjects[s] = TickSubject(s)
	}
	if err := f.SetRate(rate); err != nil {
		return nil, err
	}
	return f, nil
}

func newEpoch() string { return rand.Text()[:12] }

// Epoch identifies this run of the feed: seqs are unique within an epoch.
func (f *Feed) Epoch() string { return f.epoch }

// Symbols returns the feed's symbols.
func (f *Feed) Symbols() []string { return f.symbols }

// Rate returns the current rate in ticks per second.
func (f *Feed) Rate() int { return int(f.rate.Load()) }

// SetRate changes the rate at run time; 0 pauses the feed.
func (f *Feed) SetRate(rate int) error {
	if rate < 0 || rate > MaxRate {
		return fmt.Errorf("feed: rate %d out of range 0..%d", rate, MaxRate)
	}
	f.rate.Store(uint64(rate))
	select {
	case f.rateChanged <- struct{}{}:
	default: // a change is already pending; Run reads the newest rate
	}
	return nil
}

// LastSeq returns the seq of the newest published tick.
func (f *Feed) LastSeq() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lastSeq
}

// catchUpLimit is how many ticks late the feed may fall before it stops catching
// up: a burst of this many ticks fits easily in a client's queue.
const catchUpLimit = 16

// PublishErrors counts ticks Run could not publish.
func (f *Feed) PublishErrors() uint64 { return f.failed.Load() }

// Run publishes ticks until ctx ends. Ticks are scheduled on an absolute clock so
// the rate holds however long each publish takes; after a stall of more than
// catchUpLimit ticks it resumes from now instead of bursting. A tick that cannot be
// published is counted and skipped: Run stops only when ctx ends.
func (f *Feed) Run(ctx context.Context) error {
	timer := time.NewTimer(0)
	defer timer.Stop()
	next := time.Now()
	for {
		rate := f.Rate()
		if rate == 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-f.rateChanged:
				next = time.Now()
				continue
			}
		}
		interval := time.Second / time.Duration(rate)
		next = next.Add(interval)
		if time.Since(next) > catchUpLimit*interval {
			// A stall (GC, a busy machine) left the feed behind. Catching up
			// would publish a burst that could overflow every client's queue at
			// once; a feed of live prices just resumes from now.
			next = time.Now()
		}
		timer.Reset(time.Until(next))
		select {
		case <-ctx.Done():
			return nil
		case <-f.rateChanged:
			next = time.Now()
			continue
		case <-timer.C:
		}
		if _, err := f.Publish(); err != nil {
			// The broker is unreachable or its buffer is full. The tick is lost,
			// as in any fire-and-forget publish; the feed goes on, and the NATS
			// connection reconnects by itself.
			f.failed.Add(1)
		}
	}
}

// AlsoPublish adds a publisher that gets every tick after ticks.<SYMBOL> has
// it, with the same bytes: the work queue's publisher, for instance. Call it
// before Run.
func (f *Feed) AlsoPublish(publish func(Tick) error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.also = append(f.also, publish)
}

// Publish produces and publishes one tick now. Run calls it on the clock; tests
// and examples call it directly to get an exact number of ticks.
func (f *Feed) Publish() (Tick, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := f.walk.Next(time.Now())
	msg := &nats.Msg{Subject: f.subjects[t.Symbol], Data: t.Raw, Header: nats.Header{EpochHeader: {f.epoch}}}
	if err := f.nc.PublishMsg(msg); err != nil {
		return Tick{}, fmt.Errorf("feed: publish seq %d: %w", t.Seq, err)
	}
	for _, publish := range f.also {
		if err := publish(t); err != nil {
			return Tick{}, fmt.Errorf("feed: publish seq %d: %w", t.Seq, err)
		}
	}
	f.lastSeq = t.Seq
	return t, nil
}

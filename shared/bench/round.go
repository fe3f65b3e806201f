package bench

import (
	"context"
	"fmt"
	"sync"
	"time"

	"commlab/shared"
)

// Clients start in batches, rampBatch every rampEvery (2,000 a second), so
// the server's accept queue is not flooded. A client not connected by
// connectTimeout counts as failed.
const (
	rampBatch  = 50
	rampEvery  = 25 * time.Millisecond
	pollStatus = 20 * time.Millisecond // how often the connect and drain steps look
	// idleSample is how long the server's CPU is watched before any client
	// connects: its own baseline (the feed, NATS, JetStream, the lab's queue
	// workers), which the CPU per tick includes.
	idleSample = time.Second
)

func connectTimeout(clients int) time.Duration {
	return 10*time.Second + time.Duration(clients)*time.Second/500
}

// round loads one or more patterns at once, each with its clients, against
// one server, and measures them over one window.
type round struct {
	o      *Options
	t      *target
	env    *env
	groups []*group
	win    *window
	prog   *progress
	label  string // "[2/6] sse", for the progress line
}

// group is one pattern's clients in a round.
type group struct {
	pattern string
	load    Loader
	clients []*client
	lat     *latencies
}

func newRound(o *Options, t *target, natsURL string, patterns []string, clients int, prog *progress, label string) *round {
	r := &round{o: o, t: t, env: &env{url: t.url, natsURL: natsURL, o: o}, win: newWindow(), prog: prog, label: label}
	id := 0
	for _, p := range patterns {
		g := &group{pattern: p, load: o.Loaders[p], lat: newLatencies(clients)}
		for range clients {
			g.clients = append(g.clients, &client{id: id, dialer: dialer(id, o.SrcIPs), win: r.win, lat: g.lat})
			id++
		}
		r.groups = append(r.groups, g)
	}
	return r
}

// measured is what a round saw, for results to turn into figures.
type measured struct {
	from, to uint64        // the window, in seqs: (from, to]
	elapsed  time.Duration // the window, in time
	idleFrom process       // the server before the clients...
	idle     process       // ...idleSample later
	idleFor  time.Duration // between those two
	open     process       // the server when the window opened
	closed   process       // the server when the window closed
	drained  bool          // every tick of the window reached every client that could get it
}

// run runs the round: connect, warm up, open the window, measure, close it,
// drain; and returns a result per pattern.
func (r *round) run(ctx context.Context) ([]Result, error) {
	var m measured
	var err error
	if m.idleFrom, err = r.t.scrape(ctx); err != nil {
		return nil, err
	}
	if m.idleFrom.ok {
		r.prog.phase("%s: measuring the idle server for %s", r.label, idleSample)
		idleStart := time.Now()
		if err := shared.Sleep(ctx, idleSample); err != nil {
			return nil, err
		}
		if m.idle, err = r.t.scrape(ctx); err != nil {
			return nil, err
		}
		m.idleFor = time.Since(idleStart)
	}
	clientsCtx, stopClients := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		stopClients()
		wg.Wait()
	}()
	if err := r.connect(ctx, clientsCtx, &wg); err != nil {
		return nil, err
	}
	r.prog.phase("%s: warming up %s", r.label, r.o.Warmup)
	if err := shared.Sleep(ctx, r.o.Warmup); err != nil {
		return nil, err
	}

	// Open the window. Clients record every seq all along; from here on
	// their latencies count too.
	if m.open, err = r.t.scrape(ctx); err != nil {
		return nil, err
	}
	first, err := r.t.info(ctx)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	r.win.start(first.LastSeq)
	for _, c := range r.all() {
		c.counted = c.ready.Load()
		c.atOpen = c.counts()
	}
	if err := r.measure(ctx, start); err != nil {
		return nil, err
	}

	// Close it, and let the ticks in flight arrive.
	last, err := r.t.info(ctx)
	if err != nil {
		return nil, err
	}
	m.elapsed = time.Since(start)
	if m.closed, err = r.t.scrape(ctx); err != nil {
		return nil, err
	}
	r.win.end(last.LastSeq)
	if last.Epoch != first.Epoch {
		return nil, fmt.Errorf("bench: the feed restarted during the window (epoch %s, then %s)", first.Epoch, last.Epoch)
	}
	if last.LastSeq <= first.LastSeq {
		return nil, fmt.Errorf("bench: no tick during the %s window (last_seq stayed %d): is the feed paused?", r.o.Duration, first.LastSeq)
	}
	m.from, m.to = first.LastSeq, last.LastSeq
	if m.drained, err = r.drain(ctx, m.from, m.to); err != nil {
		return nil, err
	}
	ends := make(map[*client]counts)
	for _, c := range r.all() {
		ends[c] = c.counts()
	}
	stopClients()
	wg.Wait()
	r.prog.done()
	return r.results(m, ends), nil
}

func (r *round) all() []*client {
	var all []*client
	for _, g := range r.groups {
		all = append(all, g.clients...)
	}
	return all
}

func (r *round) countReady() int {
	n := 0
	for _, c := range r.all() {
		if c.ready.Load() {
			n++
		}
	}
	return n
}

// connect starts the clients, a batch at a time, and waits until each one is
// connected or has given up, for at most connectTimeout.
func (r *round) connect(ctx, clientsCtx context.Context, wg *sync.WaitGroup) error {
	type job struct {
		c   *client
		run func(context.Context, *Client) error
	}
	var jobs []job
	for _, g := range r.groups {
		for _, c := range g.clients {
			jobs = append(jobs, job{c, g.load.Run})
		}
	}
	deadline := time.Now().Add(connectTimeout(len(jobs)))
	every := time.NewTicker(rampEvery)
	defer every.Stop()
	r.prog.phase("%s: connecting %d clients", r.label, len(jobs))
	started := 0
	for {
		for n := 0; n < rampBatch && started < len(jobs); n++ {
			j := jobs[started]
			wg.Go(func() {
				runClient(clientsCtx, j.c, func(ctx context.Context, c *client) error { return j.run(ctx, c.view(r.env)) })
			})
			started++
		}
		ready, gaveUp := 0, 0
		for _, j := range jobs[:started] {
			switch {
			case j.c.ready.Load():
				ready++
			case j.c.gaveUp.Load():
				gaveUp++
			}
		}
		r.prog.update("%s: connecting: %d started, %d connected, %d gave up", r.label, started, ready, gaveUp)
		if (started == len(jobs) && ready+gaveUp == len(jobs)) || time.Now().After(deadline) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-every.C:
		}
	}
}

// measure waits out the window, showing how far it is.
func (r *round) measure(ctx context.Context, start time.Time) error {
	r.prog.phase("%s: measuring %s", r.label, r.o.Duration)
	every := time.NewTicker(250 * time.Millisecond)
	defer every.Stop()
	end := time.NewTimer(r.o.Duration)
	defer end.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-end.C:
			return nil
		case <-every.C:
			var received uint64
			for _, c := range r.all() {
				received += c.received.Load() - c.atOpen.received
			}
			r.prog.update("%s: measuring %.1fs of %s: %d ticks received, %d clients connected",
				r.label, time.Since(start).Seconds(), r.o.Duration, received, r.countReady())
		}
	}
}

// drain waits, at most Options.Drain, until the window's ticks have arrived:
// every client that was connected has the last one (a pattern client delivers
// in order, so it will get no earlier one later), and the queue's workers
// have each tick between them.
func (r *round) drain(ctx context.Context, from, to uint64) (bool, error) {
	r.prog.phase("%s: draining (at most %s)", r.label, r.o.Drain)
	deadline := time.Now().Add(r.o.Drain)
	every := time.NewTicker(pollStatus)
	defer every.Stop()
	for !r.drained(from, to) {
		if time.Now().After(deadline) {
			return false, nil
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-every.C:
		}
	}
	return true, nil
}

func (r *round) drained(from, to uint64) bool {
	for _, g := range r.groups {
		if !g.load.FanOut {
			if popcount(g.union(from, to)) < to-from {
				return false
			}
			continue
		}
		for _, c := range g.clients {
			if c.counted && c.last.Load() < to {
				return false
			}
		}
	}
	return true
}

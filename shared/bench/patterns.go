package bench

import (
	"context"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"commlab/shared"
)

// Bench knows how to measure, not how any pattern works: the caller hands it
// one Loader per pattern, which runs that pattern's own client (main does,
// with the clients of patterns/*). So bench depends on shared alone, as
// every package under shared does.

// Loader says how bench loads one pattern.
type Loader struct {
	// Run runs one client until ctx ends; it returns an error only when the
	// client gave up.
	Run func(ctx context.Context, c *Client) error
	// NATS: the clients connect to the server's NATS, not to its HTTP.
	NATS bool
	// FanOut: every client gets every tick. Otherwise (a queue) the clients
	// share the ticks, each tick going to one of them.
	FanOut bool
	// Group, for a queue, is the queue group the clients join, for the report.
	Group string
}

// Client is what one simulated user gets from bench: where the server is,
// how to reach it from this client's source address, and where to report.
type Client struct {
	ID           int
	URL          string // the server's base URL
	NATSURL      string // its NATS, from /api/info; "" when it has none
	PollInterval time.Duration
	LongPollWait time.Duration
	Stats        *shared.ClientStats // the pattern client's own counts: bytes read, requests, dups

	c *client
}

// Receive is the pattern client's fn: call it for every tick, on the
// client's goroutine.
func (c *Client) Receive(t shared.Tick) { c.c.receive(t) }

// Ready says the client is connected, for one whose first tick may be long in
// coming (a queue worker); other clients are ready at their first tick.
func (c *Client) Ready() { c.c.ready.Store(true) }

// CountDups points bench at a client library's own duplicate counter, for one
// that does not count into Stats.Dups.
func (c *Client) CountDups(n *atomic.Uint64) { c.c.libDups.Store(n) }

// HTTPClient is a new HTTP client dialled from this client's source address,
// counting every byte it reads (headers and framing included) into Stats.
func (c *Client) HTTPClient() *http.Client { return httpClient(c.c.dialer, &c.c.stats.Bytes) }

// NATSDialer dials NATS connections from this client's source address,
// counting what they read into Stats.
func (c *Client) NATSDialer() nats.CustomDialer {
	return natsDialer{d: c.c.dialer, bytes: &c.c.stats.Bytes}
}

// view is what client c shows its pattern's Loader.
func (c *client) view(e *env) *Client {
	return &Client{
		ID: c.id, URL: e.url, NATSURL: e.natsURL,
		PollInterval: e.o.PollInterval, LongPollWait: e.o.LongPollWait,
		Stats: &c.stats, c: c,
	}
}

// env is what every client of a round knows about the server and the options.
type env struct {
	url     string // the server's base URL
	natsURL string // its NATS, from /api/info; "" when it has none
	o       *Options
}

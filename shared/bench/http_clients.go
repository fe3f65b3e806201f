package bench

import (
	"context"

	"commlab/patterns/polling"
	"commlab/patterns/sse"
	"commlab/patterns/websocket"
)

// The HTTP patterns' clients are the patterns' own, each with an HTTP client
// of its own: its own connection, from its own source address, counting what
// it reads into the client's stats.

func runPoll(ctx context.Context, e *env, c *client) error {
	hc := httpClient(c.dialer, &c.stats.Bytes)
	defer hc.CloseIdleConnections()
	return polling.Poll(ctx, e.url, c.receive, &polling.Options{
		Interval: e.o.PollInterval, HTTPClient: hc, Stats: &c.stats,
	})
}

func runLongPoll(ctx context.Context, e *env, c *client) error {
	hc := httpClient(c.dialer, &c.stats.Bytes)
	defer hc.CloseIdleConnections()
	return polling.Poll(ctx, e.url, c.receive, &polling.Options{
		Wait: e.o.LongPollWait, HTTPClient: hc, Stats: &c.stats,
	})
}

func runSSE(ctx context.Context, e *env, c *client) error {
	hc := httpClient(c.dialer, &c.stats.Bytes)
	defer hc.CloseIdleConnections()
	return sse.Subscribe(ctx, e.url, c.receive, &sse.ClientOptions{HTTPClient: hc, Stats: &c.stats})
}

func runWS(ctx context.Context, e *env, c *client) error {
	hc := httpClient(c.dialer, &c.stats.Bytes)
	defer hc.CloseIdleConnections()
	return websocket.Subscribe(ctx, e.url, c.receive, &websocket.ClientOptions{HTTPClient: hc, Stats: &c.stats})
}

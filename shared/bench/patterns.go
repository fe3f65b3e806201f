package bench

import "context"

// env is what every client of a round knows about the server and the options.
type env struct {
	url     string // the server's base URL
	natsURL string // its NATS, from /api/info; "" when it has none
	o       *Options
}

// loader says how bench loads one pattern.
type loader struct {
	// run runs one client until ctx ends.
	run func(ctx context.Context, e *env, c *client) error
	// nats: the clients connect to the server's NATS, not to its HTTP.
	nats bool
	// fanOut: every client gets every tick. Otherwise (the queue) the clients
	// share the ticks, each tick going to one of them.
	fanOut bool
}

var loaders = map[string]loader{
	"poll":     {run: runPoll, fanOut: true},
	"longpoll": {run: runLongPoll, fanOut: true},
	"sse":      {run: runSSE, fanOut: true},
	"ws":       {run: runWS, fanOut: true},
	"pubsub":   {run: runPubSub, nats: true, fanOut: true},
	"queue":    {run: runQueue, nats: true},
}

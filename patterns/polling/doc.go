// Package polling demonstrates short and long polling: the client asks for ticks
// with plain HTTP requests, and the server only ever answers. It is REST applied to
// live data, and it shows what that costs.
//
// Both styles share one endpoint and one response:
//
//	GET /api/poll?since=41&limit=500          short poll: answer at once
//	GET /api/poll?since=41&wait=25s           long poll: hold until a tick > 41 exists
//
//	{"ticks":[{"seq":42,...},{"seq":43,...}],"next":43,"reset":false}
//
// # Server
//
// [Handler] keeps nothing about its clients. Each request carries the client's place
// in the feed (since), and the server answers from the gateway's history: the held
// ticks after since, oldest first, at most limit, and next, the since to send next
// time. Without since, a short poll gets the newest tick alone, as its starting
// point, and a long poll waits for the tick after it. When the ticks right after
// since are no longer held, reset is true and the list goes on from the oldest
// tick held: the client learns that it missed some.
//
// A long poll with nothing to send yet waits on the history's Changed channel, a
// channel closed when the next tick is appended, which wakes every waiting request
// at once. It answers with an empty list when wait passes or the request ends. It
// takes the channel before reading the history, so a tick that arrives between the
// two is not missed.
//
// # Client
//
// [Poll] sends a request, hands the ticks to fn, and asks again after since = the
// last seq it delivered: after Options.Interval for short polling, at once for long
// polling, and at once for either when a full page says more are waiting. As the
// server holds no state, recovery is just asking again: a failed request is
// retried with jittered backoff and resumes exactly where the last good one ended,
// with no gap and no duplicate.
//
// # Trade-offs
//
// Short polling is the simplest thing that works through any proxy, cache or
// firewall, but every poll is a full HTTP request (headers, and a TCP and TLS
// handshake when no connection is kept alive), a tick waits up to Interval before
// the client sees it, and most responses are empty when the feed is quiet. Polling
// faster cuts latency only by sending more requests.
//
// Long polling answers as soon as a tick exists, so a tick reaches the client
// within about one round trip, and empty responses come only when wait passes.
// The price is a connection and a server goroutine held per waiting client, and
// still a new request, with its headers, for every batch. Under a fast feed it
// degrades into short polling with no pause. Server-sent events and WebSockets
// keep one response or connection open and push every tick instead.
package polling

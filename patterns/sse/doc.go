// Package sse demonstrates server-sent events: the client makes one ordinary
// GET, the server never finishes the response, and each tick is written to it
// as a small text event the moment it arrives. On the wire one tick is three
// lines and a blank line:
//
//	id: 1042
//	data: {"seq":1042,"symbol":"ACME","price":101.37,"t_us":1764122400123456}
//	event: tick
//
// The order of the lines within an event does not matter in SSE; r3labs writes
// id, data, event. The id is the tick's seq. A browser's EventSource remembers
// the last id it saw and, when the connection breaks, reconnects by itself with
// the header Last-Event-ID: 1042, so the server can continue exactly where the
// client stopped.
//
// # Server
//
// Handler serves GET /api/sse with github.com/r3labs/sse/v2. The story of one
// client's stream is in stream.go, in three steps: subscribe to the gateway's
// hub first, then catch up with the held ticks after the client's last id from
// the history, then send the live ticks, skipping any seq already sent: no gap,
// no duplicate. When the ticks after the client's id are gone, a reset event
// comes first:
//
//	id: 5000
//	data: {"op":"reset","epoch":"k3J9x2","next":5000}
//	event: reset
//
// next means "continue after": the next tick is 5001. When the feed restarts
// under a new epoch, seqs start again at 1: every stream ends with a reset to
// the new epoch with next 0 and id 0, so the client reconnects with
// Last-Event-ID: 0 and gets the new epoch's ticks from the first.
//
// r3labs needs care to be used safely; r3labs.go holds every workaround, each
// with the pitfall it avoids. AutoReplay is off (its replay log is unbounded,
// renumbers the ids and replays inclusively). Each connection has its own
// r3labs stream, fed with TryPublish: a client that cannot keep up fills its
// own queue and that client alone is cut off; it reconnects and resumes. No
// client can slow down another. Every write has a deadline. A tick's event is
// built once and shared by every client (events.go). r3labs flushes after every
// event; the lab's writer holds a flush back while more events for the client
// are already on their way, so a client that fell behind gets them in one
// write system call instead of one each.
//
// A comment line (": heartbeat") every 15 seconds keeps proxies and clients from
// treating a quiet stream as dead. A request that arrives while the server
// shuts down gets an event stream that only says "retry: 2000" and ends: a
// browser then reconnects in 2 seconds, where an error status would make it
// give up for good.
//
// # Client
//
// Subscribe reads the stream with a small reader of its own that follows the
// WHATWG event-stream rules (lines ending in \n, \r\n or \r; "field: value";
// comments; multi-line data; id, event and retry). It does not use r3labs' Go
// client, which does not reconnect after a clean EOF (r3labs/sse#147), gives up
// after 15 minutes (#174), never resets its backoff (#152), leaks a goroutine on
// Unsubscribe (#178) and caps events at 64 KiB. Like a browser, Subscribe
// reconnects forever with a jittered backoff and sends Last-Event-ID; unlike a
// browser, it also gives up on a connection that stays silent for three
// heartbeats, because a dead TCP peer can look exactly like a quiet one. It
// stops only on a 400 (its request is malformed, asking again cannot help);
// any other answer, a 404, 403 or 502 from a proxy during a deploy, or a 200
// that is not an event stream, is logged and retried.
//
// # Trade-offs
//
//   - One-way: the server pushes, the client cannot answer on the same
//     connection. Anything the client says is a separate HTTP request.
//   - Plain HTTP: it passes through proxies, load balancers and
//     authentication that already work for the rest of the site, and needs no
//     upgrade handshake.
//   - Text only: binary data must be encoded (base64), and every event carries
//     a few bytes of field names.
//   - Reconnect and resume are built into browsers (EventSource, Last-Event-ID);
//     the server only has to honour the id.
//   - Over HTTP/1.1 a browser opens at most 6 connections per origin, and every
//     open stream holds one; several tabs can starve the page. HTTP/2 multiplexes
//     streams over one connection and lifts the limit.
//   - Buffering proxies (nginx by default) hold events back; the server sends
//     X-Accel-Buffering: no, and the heartbeat keeps idle timeouts from firing.
package sse

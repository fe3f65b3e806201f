// Package sse demonstrates server-sent events: the client makes one ordinary
// GET, the server never finishes the response, and each tick is written to it
// as a small text event the moment it arrives. On the wire one tick is three
// lines and a blank line:
//
//	id: 1042
//	event: tick
//	data: {"seq":1042,"symbol":"ACME","price":101.37,"t_us":1764122400123456}
//
// The id is the tick's seq. A browser's EventSource remembers the last id it saw
// and, when the connection breaks, reconnects by itself with the header
// Last-Event-ID: 1042, so the server can continue exactly where the client
// stopped.
//
// # Server
//
// Handler serves GET /api/sse with github.com/r3labs/sse/v2, configured the way
// that library needs: AutoReplay off (its replay log is unbounded, renumbers the
// ids and replays inclusively), and one r3labs stream per connection, fed by a
// pump goroutine with TryPublish. A client that cannot keep up fills its own
// queue, TryPublish fails and that client alone is cut off; it reconnects and
// resumes. No client can slow down another.
//
// Resuming is the part that needs care. The pump subscribes to the gateway's
// hub first, then sends the held ticks after N from the history, then the live
// ticks, skipping any seq it has already sent: no gap, no duplicate. When the
// ticks after N are gone, a reset event comes first:
//
//	id: 5000
//	event: reset
//	data: {"op":"reset","epoch":"k3J9x2","next":5000}
//
// A comment line (": heartbeat") every 15 seconds keeps proxies and clients from
// treating a quiet stream as dead.
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
// heartbeats, because a dead TCP peer can look exactly like a quiet one.
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

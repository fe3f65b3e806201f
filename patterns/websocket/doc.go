// Package websocket demonstrates WebSockets: one HTTP request asks to upgrade,
// and from then on client and server share a full-duplex connection on which
// either side may send a message at any time. The server pushes one text frame
// per tick, holding the tick's JSON exactly as the feed encoded it; on the same
// socket the client may send {"op":"symbols","symbols":["ACME"]} to narrow its
// stream.
//
// # Server
//
// Handler returns the *Server for GET /api/ws. Before the upgrade it checks the
// query (?since=N, strictly decoded) and the Origin header and refuses bad ones
// with a JSON 400 or 403, while an HTTP status can still say why. It subscribes
// to the gateway's hub, accepts the WebSocket, replays the held ticks after
// since (preceded by a {"op":"reset","epoch":...,"next":N} control when they
// are gone), then writes live ticks. Each connection has two goroutines with
// one job each: the session's writer (started as the handler returns, so the
// handler's stack, grown by net/http, does not stay with the connection)
// writes, and coalesces (whatever queued
// up while it wrote goes out next, several frames per system call); a reader
// takes the client's ops, pongs and close frames. Every PingInterval the
// writer starts a ping on a third goroutine that lives until the pong, to check
// that the peer still answers. Every write to the network has a deadline, set
// on the connection under the library.
//
// The replay writes straight to the socket, so the client's link sets its
// pace. Live ticks queue in the hub meanwhile, and on a slow link a long replay
// can overflow that queue; the ticks the hub dropped are still held, so the
// replay subscribes again and reads on from the history, as SSE's does,
// instead of cutting off a client that reads as fast as it can. Once live, a
// client that falls behind is cut off (close 1013, try again later) instead of
// slowing anyone else; it resumes from where it was.
//
// How a session ends says what the client should do next:
//
//   - 1001 going away: the server is shutting down (or its gateway closed).
//     At shutdown each handler closes its own connection:
//     http.Server.Shutdown does not see hijacked connections, so call
//     Server.Wait after it to wait for those closes.
//   - 1012 service restart, after {"op":"reset","epoch":<new>,"next":0}: the
//     feed restarted under a new epoch and seqs start over; the client resets
//     its place to 0 and reconnects with since=0.
//   - 1013 try again later: the client fell behind.
//   - 1003 binary frame, 1007 invalid JSON, 1008 unknown op or symbol, 1009
//     too big: the client sent something the server refuses.
//
// # Client
//
// Subscribe dials ws://host/api/ws?since=<last seq>, sends the symbols op if
// asked to, and hands each tick to fn once, in order. It reconnects for as
// long as ctx lives, with a jittered backoff that starts over only once a
// connection has brought a frame (a server that accepts and at once closes is
// not dialled again every 100 ms), and resumes after the last seq it saw. Any
// frame or ping from the server proves it alive; after IdleTimeout of silence
// the client drops the connection and reconnects, where TCP alone would notice
// a vanished server only minutes later. It gives up only when retrying cannot
// help: a 400 to the handshake (its request is malformed) or a close that
// blames it (1003, 1007, 1008, 1009). Any other HTTP status, 403, 404, 502
// included, may come from a proxy while the server restarts, and is retried.
//
// On a stream narrowed by the symbols op, the seqs of the other symbols are
// missing by design, so the client cannot detect gaps there: it only drops
// duplicates and keeps its place for the resume.
//
// # Trade-offs
//
//   - One upgrade, then no per-message HTTP: a frame adds 2 to 14 bytes to its
//     payload (2 for a small server frame; client frames carry a 4-byte mask),
//     where polling pays for headers on every request.
//   - Server push and client messages share one socket, so a client changes its
//     subscription without a second connection. The price is a reader and a
//     writer on every connection, and the server must always read, or pings
//     and close frames go unanswered.
//   - Connections are long-lived and stateful: proxies and load balancers must
//     pass the Upgrade header and tolerate idle connections (hence the pings),
//     and a server restart drops every client at once.
//   - There is no built-in resume, unlike SSE's Last-Event-ID: the application
//     does it, here with ?since and the reset control.
package websocket

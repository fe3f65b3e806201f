// Package websocket demonstrates WebSockets: one HTTP request asks to upgrade,
// and from then on client and server share a full-duplex connection on which
// either side may send a message at any time. The server pushes one text frame
// per tick, holding the tick's JSON exactly as the feed encoded it; on the same
// socket the client may send {"op":"symbols","symbols":["ACME"]} to narrow its
// stream.
//
// # Server
//
// Handler serves GET /api/ws. Before the upgrade it checks ?since=N and the
// Origin header and refuses bad ones with a JSON 400 or 403, while an HTTP
// status can still say why. It subscribes to the gateway's hub, accepts the
// WebSocket, replays the held ticks after since (preceded by a
// {"op":"reset","epoch":...,"next":N} control when they are gone), then writes
// live ticks. Each connection has three goroutines with one job each: the
// handler goroutine writes, and coalesces (whatever queued up while it wrote
// goes out next, back to back); a reader takes the client's ops, pongs and
// close frames; a pinger checks that the peer still answers. Every write has a
// deadline. A client that falls behind is cut off (close 1013, try again later)
// instead of slowing anyone else; a bad message closes its connection with a
// status and a reason (1003 binary frame, 1007 invalid JSON, 1008 unknown op
// or symbol, 1009 too big). At shutdown each handler closes its own connection
// with 1001 going away: http.Server.Shutdown does not see hijacked connections.
//
// # Client
//
// Subscribe dials ws://host/api/ws?since=<last seq>, sends the symbols op if
// asked to, and hands each tick to fn once, in order. After a network failure
// or a close that invites a retry (1001, 1006, 1011, 1012, 1013) it reconnects
// with jittered backoff and resumes after the last seq it delivered. A close
// that blames the client (1003, 1007, 1008, 1009) or a refused handshake (4xx)
// ends it with an error: retrying would get the same answer.
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

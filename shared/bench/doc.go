// Package bench is the load generator behind `commlab bench`: it runs the
// patterns' own Go clients, many at once, against a server that speaks the
// lab's contract, and measures what each pattern costs and delivers. The
// clients come in as Options.Loaders (main's bench_clients.go), so this
// package imports nothing of the patterns.
//
// # One round
//
// A round loads one pattern (or, with Options.Together, several at once) with
// Options.Clients clients against one server, in five steps:
//
//  1. connect: the clients start, a few at a time, and each counts as
//     connected once it has a working subscription (an HTTP client: its first
//     tick; a NATS client: its subscription confirmed by the server);
//  2. warm up for Options.Warmup;
//  3. open the window: read last_seq from /api/info (S0);
//  4. close it after Options.Duration: read last_seq again (S1);
//  5. drain: wait, at most Options.Drain, until every client has the ticks
//     up to S1, so ticks still in flight count.
//
// Every client records which seqs it got in a bitset, so the accounts are
// exact: a fan-out pattern should deliver each of the S1-S0 window ticks to
// every client that was connected when the window opened (expected = ticks x
// connected); the queue, each tick once across its workers (expected = ticks).
//
// # The numbers
//
//   - delivered, expected, gaps (expected - delivered: ticks that never came),
//     dups (ticks that came twice, whether the client library or the bitset
//     caught them);
//   - latency: receive time - t_us, for the window's ticks, in sharded HDR
//     histograms;
//   - bytes_per_tick and requests_per_tick: what the clients read from their
//     connections (headers and framing included) and the HTTP requests they
//     made, from the window's start to the drain's end, per tick received;
//   - server_cpu_us_per_tick: microseconds of the server process's CPU time
//     per delivered tick (one tick to one client), over the window;
//   - server_idle_cpu_pct: the server's CPU use, in percent of one core, for a
//     second before any client connected: its own baseline (for the lab: the
//     feed, NATS, JetStream, its queue workers), which the CPU per tick includes;
//   - server_mem_per_conn_kib: growth of the server's resident memory from
//     before the clients connected to the window's start, per connected client.
//
// The server figures come from the server's /metrics (the Prometheus process
// collector's process_cpu_seconds_total and process_resident_memory_bytes):
// the server must be a process of its own, so its cost is measured apart from
// the load generator's. A server without /metrics shows them as n/a.
package bench

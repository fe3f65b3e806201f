// Package natsqueue demonstrates work distribution over NATS, twice, side by
// side: a core NATS queue group, which is at-most-once, and a JetStream work
// queue, which is at-least-once and loses nothing. The same ticks feed both,
// and the same kill shows the difference.
//
//	feed --publish once--> work.ticks --+--> queue group "workers": core-1, core-2, core-3
//	                                    |      (one random member each; no copy kept)
//	                                    +--> stream TICKWORK --> consumer "workers": js-1, js-2, js-3
//	                                           (kept until acked; redelivered after AckWait)
//
// # Publisher
//
// [Publisher] puts each tick on work.ticks once: the core workers have
// subscribed to that subject, and the stream TICKWORK captures it, so one
// publish reaches both. It publishes through JetStream with asynchronous acks:
// the feed never waits for a round trip, and a tick counts as acked only once
// the stream has stored it. Its Publish never fails, because the feed stops on
// an error: failures are counted, and when too many acks are outstanding new
// ticks are skipped, and counted, rather than slowing the feed down.
// [SetupStreams] creates the stream, its consumer and the dead-letter stream;
// every limit of theirs is explained where it is set.
//
// # Workers
//
// A core worker joins the queue group with QueueSubscribe. The server hands
// each tick to one member chosen at random, as fast as ticks come, busy or
// not, and forgets it: whatever a worker holds when it dies (the tick in its
// job, the ticks queued in its client, the ticks still on the wire, and those
// the server sends it until it notices the connection is gone) is lost.
//
// A JetStream worker pulls from the durable consumer "workers" with Consume,
// asking for at most PullMaxMessages ticks at a time; the rest wait in the
// stream. It acks a tick after the job. A tick that is never acked, because
// its worker died, goes to another worker once AckWait has passed.
//
// The job of each tick is a per-symbol candle and moving average, plus a
// visible processing time. Each worker runs on its own NATS connection, so
// [Pool.Kill] is real: the connection closes abruptly, as in a crash, with no
// drain. [RunWorker] runs one worker as a process of its own.
//
// # Dead letters
//
// A message that has been delivered MaxDeliver times without an ack is given
// up on, and then just stays in the stream (nats-server #5564): no worker ever
// sees it again. The server announces it once, in an advisory on core NATS.
// The dead-letter handler listens to those advisories, copies each such message
// to work.dead (kept in stream TICKDEAD) and deletes it from TICKWORK; it also
// sweeps the stream now and then for any whose advisory it missed: a message
// still in the stream below the consumer's ack floor has been given up on.
//
// # Accounting
//
// The [Pool] keeps the books of both queues, for the demo and the dashboard
// ([Pool.Snapshot]). The JetStream side comes from the server: the stream's
// sequence numbers, the consumer's pending counts, the workers' NumDelivered.
// The core side has no server to ask, so the pool subscribes an auditor that
// sees every tick, and settles each tick that no worker finished once no live
// worker can still hold it. Of those, the ticks its own workers had (held when
// killed, dropped as a slow consumer) are lost, counted exactly; the others are
// unknown, since a worker outside the pool may have taken them. The pool sees
// only its own workers.
//
// # Trade-offs
//
// At-most-once vs at-least-once. The queue group is fast and needs nothing on
// the server, but its guarantee ends when the server writes the message to a
// worker's socket: a crash loses the worker's whole backlog, and a partitioned
// worker keeps receiving its share until the server's pings time out. The work
// queue stores every tick, and an ack deletes it; nothing is lost, at the cost
// of a disk write per tick and an ack per tick.
//
// Redelivery only after AckWait. The server does not redeliver when a
// worker's connection closes, however cleanly, only when AckWait has passed
// (nats-server #4716). AckWait is a bet: too short, and slow jobs are
// redelivered while still running; too long, and a dead worker's ticks wait.
// A worker on a slow job can keep its claim by reporting progress
// (InProgress restarts AckWait): the coding exercise.
//
// Ordering is lost on redelivery. A redelivered tick arrives after ticks
// published later than it, at another worker.
//
// Handlers must be idempotent. A worker can die after its job and before its
// ack reaches the server; the tick is then done twice. The job here ignores a
// tick not newer than the last it applied.
//
// Prefetch vs fairness. Every tick a JetStream worker pulled ahead is stuck
// with it if it dies, until AckWait, and cannot go to an idle worker meanwhile.
// A small PullMaxMessages and MaxAckPending keep that little; a large one buys
// throughput. The queue group is the extreme case: all of it is pushed ahead.
//
// Dead letters are a decision. A message that fails every time would go round
// forever with no MaxDeliver, and sit in the stream forever with one and no
// handler. Moving it aside keeps it for a person to look at.
package natsqueue

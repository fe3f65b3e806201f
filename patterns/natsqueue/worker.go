package natsqueue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"commlab/shared"
)

// Kind says which work queue a worker takes its ticks from.
type Kind string

const (
	// Core workers share the ticks through the core NATS queue group
	// "workers": at-most-once.
	Core Kind = "core"
	// JetStream workers share the ticks through the durable consumer
	// "workers" of the stream TICKWORK: at-least-once.
	JetStream Kind = "jetstream"
)

// ParseKind turns "core" or "jetstream" (a flag's value) into a Kind.
func ParseKind(s string) (Kind, error) {
	switch k := Kind(s); k {
	case Core, JetStream:
		return k, nil
	}
	return "", fmt.Errorf("natsqueue: unknown worker kind %q (want %s or %s)", s, Core, JetStream)
}

// WorkerOptions tune a worker. A nil *WorkerOptions means the defaults.
type WorkerOptions struct {
	// WorkTime is how long the job of one tick takes. Default DefaultWorkTime.
	WorkTime time.Duration

	// PullMaxMessages is how many ticks a JetStream worker asks for ahead of
	// its work. Default 2: the tick in hand and the next one. Each of them
	// waits out AckWait if the worker dies, and none can go to an idle worker
	// meanwhile, so prefetch trades fairness and recovery time for throughput.
	PullMaxMessages int

	// PendingLimit is how many ticks a core worker's client may queue before
	// NATS drops new ones as a slow consumer. Default 10,000.
	PendingLimit int

	// AckTimeout bounds the wait for the server to confirm an ack. Default 2s.
	AckTimeout time.Duration

	// Log receives a worker's lifecycle at Info and each message at Debug.
	// Default: discard.
	Log *slog.Logger
}

func (o *WorkerOptions) withDefaults() WorkerOptions {
	var w WorkerOptions
	if o != nil {
		w = *o
	}
	if w.WorkTime <= 0 {
		w.WorkTime = DefaultWorkTime
	}
	if w.PullMaxMessages <= 0 {
		w.PullMaxMessages = 2
	}
	if w.PendingLimit <= 0 {
		w.PendingLimit = 10_000
	}
	if w.AckTimeout <= 0 {
		w.AckTimeout = 2 * time.Second
	}
	if w.Log == nil {
		w.Log = slog.New(slog.DiscardHandler)
	}
	return w
}

// counters outlive a worker: a revived worker goes on counting where its
// predecessor in the same slot stopped.
type counters struct {
	processed   atomic.Uint64 // jobs done
	redelivered atomic.Uint64 // JetStream: messages that came with NumDelivered > 1
	poison      atomic.Uint64 // messages that were not ticks
	ackErrors   atomic.Uint64 // JetStream: acks the server did not confirm (the tick may come back)
	dropped     atomic.Uint64 // core: dropped by the client as a slow consumer, in ended lives
	lost        atomic.Uint64 // core: ticks a worker held when it was killed, or left when its stop ran out of time
	restarts    atomic.Uint64
}

// hooks tell a pool what its workers finished; a worker run alone has none.
type hooks struct {
	coreDone func(tickSeq uint64)              // a core worker finished the job of a tick
	jsDone   func(streamSeq, delivered uint64) // a JetStream worker finished the job of a message
}

// worker is one life of a worker: one NATS connection and one subscription.
type worker struct {
	kind  Kind
	name  string
	opts  WorkerOptions
	c     *counters
	hooks hooks
	log   *slog.Logger
	job   *job

	nc       *nats.Conn
	ownsConn bool                     // a pool's worker closes its connection; RunWorker's caller owns its own
	sub      *nats.Subscription       // core
	cc       jetstream.ConsumeContext // JetStream
	ackWait  time.Duration            // JetStream: the consumer's AckWait, as the server has it
	quit     chan struct{}            // closed by kill: abandon the job in hand
	exited   <-chan struct{}          // closed when the handler's goroutine has ended

	lastStarted atomic.Uint64 // core: seq of the newest tick handed to the handler
	finished    atomic.Uint64 // core: messages this life finished (processed or poison)
	abandoned   atomic.Uint64 // jobs cut off mid-way by kill (or a stop past its deadline)
	inJob       atomic.Bool
}

// startWorker subscribes a worker on nc and returns once the broker knows it.
// ownsConn says the worker's life ends with its connection: a pool's workers.
func startWorker(ctx context.Context, nc *nats.Conn, ownsConn bool, kind Kind, name string, opts WorkerOptions, c *counters, h hooks) (*worker, error) {
	w := &worker{
		kind: kind, name: name, opts: opts, c: c, hooks: h,
		log:      opts.Log.With("pattern", "queue", "worker", name, "kind", kind),
		job:      newJob(opts.WorkTime),
		nc:       nc,
		ownsConn: ownsConn,
		quit:     make(chan struct{}),
	}
	if ownsConn { // a caller's connection keeps the caller's handler
		var slow logLimit // the handler runs on the connection's one callback goroutine
		nc.SetErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			if !errors.Is(err, nats.ErrSlowConsumer) {
				w.log.Warn("queue worker: async error", "err", err)
				return
			}
			// nats.go reports a slow consumer once per episode, but a core
			// worker far behind a fast feed has a hundred episodes a second,
			// each ended by one message read. One line every 10 s says so;
			// Dropped counts every tick.
			if more, ok := slow.allow(time.Now(), 10*time.Second); ok {
				w.log.Warn("queue worker: slow consumer, messages dropped", "reports_since_last_line", more)
			}
		})
	}
	var err error
	switch kind {
	case Core:
		err = w.startCore()
	case JetStream:
		err = w.startJetStream(ctx)
	default:
		err = fmt.Errorf("natsqueue: unknown worker kind %q", kind)
	}
	if err != nil {
		return nil, err
	}
	w.log.Debug("queue worker started", "remote", nc.ConnectedUrl())
	return w, nil
}

// startCore joins the queue group. From now on the server hands this worker
// a random share of the ticks, as fast as they come, whether or not it is busy.
func (w *worker) startCore() error {
	exited := make(chan struct{})
	sub, err := w.nc.QueueSubscribe(Subject, QueueGroup, w.handleCore)
	if err != nil {
		return fmt.Errorf("natsqueue: %s: queue subscribe %s: %w", w.name, Subject, err)
	}
	// Called when the subscription's delivery goroutine has ended.
	sub.SetClosedHandler(func(string) { close(exited) })
	w.sub, w.exited = sub, exited
	if err := sub.SetPendingLimits(w.opts.PendingLimit, 64<<20); err != nil {
		_ = sub.Unsubscribe()
		return fmt.Errorf("natsqueue: %s: pending limits: %w", w.name, err)
	}
	// Subscribe only queues the SUB; the round trip makes sure the server has
	// it before anyone publishes, so no tick slips past a new worker.
	if err := w.nc.Flush(); err != nil {
		_ = sub.Unsubscribe()
		return fmt.Errorf("natsqueue: %s: flush subscription: %w", w.name, err)
	}
	return nil
}

// handleCore runs on the subscription's goroutine, one tick at a time, in the
// order the server delivered them.
func (w *worker) handleCore(m *nats.Msg) {
	t, err := shared.ParseTick(m.Data)
	if err != nil {
		// There is nobody to tell: core NATS has no redelivery and no dead
		// letters. Count it and move on.
		w.c.poison.Add(1)
		w.finished.Add(1)
		w.log.Debug("queue worker: not a tick", "err", err)
		return
	}
	w.lastStarted.Store(t.Seq)
	if !w.work(t, m.Header.Get(shared.EpochHeader)) {
		return // killed mid-job: the tick dies with the worker
	}
	w.c.processed.Add(1)
	w.finished.Add(1)
	if w.hooks.coreDone != nil {
		w.hooks.coreDone(t.Seq)
	}
	w.log.Debug("queue worker: processed", "seq", t.Seq, "symbol", t.Symbol)
}

// work runs the job unless the worker has been killed. It returns false, and
// counts the job as abandoned, when the kill came first or cut the job short.
func (w *worker) work(t shared.Tick, epoch string) bool {
	w.inJob.Store(true)
	defer w.inJob.Store(false)
	if !w.job.run(t, epoch, w.quit) {
		w.abandoned.Add(1)
		return false
	}
	return true
}

// holding reports whether the worker has work in hand: a core worker a tick
// in its job or queued in its client, a JetStream worker a tick in its job.
func (w *worker) holding() bool {
	if w.kind == Core {
		n, _, err := w.sub.Pending() // counts the tick in the handler too
		return err == nil && n > 0
	}
	return w.inJob.Load()
}

// idle reports whether a core worker holds nothing: no tick in its job and
// none queued in its client. ok is false once the subscription is closed.
func (w *worker) idle() (idle, ok bool) {
	n, _, err := w.sub.Pending()
	return n == 0, err == nil
}

// droppedNow returns this life's slow-consumer drops so far (core).
func (w *worker) droppedNow() uint64 {
	if w.sub == nil {
		return 0
	}
	n, err := w.sub.Dropped()
	if err != nil || n < 0 {
		return 0
	}
	return uint64(n)
}

// kill ends this life the way a crash would: the job in hand is abandoned
// and the connection closed at once, with no drain and no goodbye. It returns
// what the worker held. For a core worker, that is every tick it had received
// and not finished: they are lost. For a JetStream worker, it is the ticks its
// handler abandoned: the one in its job, and any pulled ahead that the client
// still handed over as the consumer stopped (PullMaxMessages bounds those; one
// the client dropped instead is not counted). None of those is lost: they
// still belong to the stream, which redelivers them after AckWait.
//
// The connection closes before the job is told to quit: a worker that quit
// first would race through its prefetched ticks, abandoning each at once, and
// its consumer would pull more, which no crashed worker does.
func (w *worker) kill() (held uint64) {
	dropped := w.droppedNow() // unreadable once the connection has closed
	w.nc.Close()
	close(w.quit)
	if w.cc != nil {
		w.cc.Stop() // the connection is gone; this only ends the consumer's own goroutines sooner
	}
	<-w.exited
	w.c.dropped.Add(dropped)
	if w.kind == Core {
		held = w.unfinished(dropped)
		w.c.lost.Add(held)
	} else {
		held = w.abandoned.Load()
	}
	w.log.Info("queue worker killed", "held", held)
	return held
}

// unfinished counts, once a core worker's connection is closed, the ticks it
// received and did not finish. Everything the connection received went to the
// handler, or waited in the client's queue, or was dropped there; what the
// handler did not finish, and NATS did not count as dropped, was in hand.
// Only a worker with a connection of its own can count so: InMsgs counts
// every message of the connection.
func (w *worker) unfinished(dropped uint64) uint64 {
	received := w.nc.Stats().InMsgs
	if done := w.finished.Load() + dropped; received > done {
		return received - done
	}
	return 0
}

// stop ends this life gracefully: the worker stops taking new ticks, finishes
// those it already has (acking them, for JetStream), and leaves. Whatever is
// not finished when ctx ends is abandoned as in kill: a core worker's ticks
// are then lost, a JetStream worker's come back to the others after AckWait.
func (w *worker) stop(ctx context.Context) {
	dropped := w.droppedNow() // unreadable once the subscription has closed
	var err error
	if w.kind == Core {
		err = w.sub.Drain()
	} else {
		w.cc.Drain()
	}
	if err == nil {
		select {
		case <-w.exited:
		case <-ctx.Done():
			w.log.Info("queue worker: stop ran out of time, abandoning the rest", "err", ctx.Err())
		}
	}
	close(w.quit)
	if w.ownsConn {
		w.nc.Close()
	} else if w.sub != nil {
		_ = w.sub.Unsubscribe()
	} else {
		w.cc.Stop()
	}
	<-w.exited
	w.c.dropped.Add(dropped)
	if w.kind == Core && w.ownsConn {
		if held := w.unfinished(dropped); held > 0 {
			w.c.lost.Add(held)
			w.log.Info("queue worker: ticks abandoned at stop", "lost", held)
		}
	}
	w.log.Debug("queue worker stopped")
}

// stats reads a worker slot's counters, adding the live worker's own (nil: dead).
func (c *counters) stats(name string, kind Kind, live *worker) WorkerStats {
	s := WorkerStats{
		Name:        name,
		Kind:        kind,
		Alive:       live != nil,
		Restarts:    c.restarts.Load(),
		Processed:   c.processed.Load(),
		Redelivered: c.redelivered.Load(),
		Poison:      c.poison.Load(),
		AckErrors:   c.ackErrors.Load(),
		Dropped:     c.dropped.Load(),
		Lost:        c.lost.Load(),
	}
	if live != nil {
		s.Dropped += live.droppedNow()
		if kind == Core {
			if n, _, err := live.sub.Pending(); err == nil {
				s.Pending = n
			}
		} else if live.inJob.Load() {
			s.Pending = 1
		}
	}
	return s
}

// WorkerStats are one worker's counters, over all its lives.
type WorkerStats struct {
	Name        string `json:"name"` // core-1, js-2, ...
	Kind        Kind   `json:"kind"`
	Alive       bool   `json:"alive"`
	Restarts    uint64 `json:"restarts"`
	Processed   uint64 `json:"processed"`   // ticks whose job was done
	Redelivered uint64 `json:"redelivered"` // JetStream: ticks that reached it with NumDelivered > 1
	Poison      uint64 `json:"poison"`      // messages that were not ticks (JetStream: Nak'ed)
	AckErrors   uint64 `json:"ack_errors"`  // JetStream: acks the server did not confirm: if lost, the tick is done again
	Dropped     uint64 `json:"dropped"`     // core: ticks its client dropped as a slow consumer (sub.Dropped)
	Lost        uint64 `json:"lost"`        // core: ticks it held when it was killed (or could not finish in a stop's time)
	Pending     int    `json:"pending"`     // now: core ticks in hand and queued; JetStream 1 while in a job
}

// stopTimeout bounds RunWorker's graceful stop: the worker's backlog is
// abandoned after it.
const stopTimeout = 5 * time.Second

// RunWorker runs one worker of the given kind on nc until ctx ends, then stops
// it gracefully (it finishes, and acks, what it holds, for at most 5 s) and
// returns nil. It is a worker as its own process, for
// `commlab worker --kind core|jetstream`; nc belongs to the caller and stays
// open. A JetStream worker retries until it can attach to the consumer, so
// workers may start before the broker is ready or the lab has set up the
// streams. It logs its counters every 10 seconds.
func RunWorker(ctx context.Context, nc *nats.Conn, kind Kind, name string, opts *WorkerOptions) error {
	o := opts.withDefaults()
	if _, err := ParseKind(string(kind)); err != nil {
		return err
	}
	c := new(counters)
	log := o.Log.With("pattern", "queue", "worker", name, "kind", kind)
	backoff := shared.Backoff{Min: 250 * time.Millisecond, Max: 5 * time.Second}
	var w *worker
	for w == nil {
		var err error
		w, err = startWorker(ctx, nc, false, kind, name, o, c, hooks{})
		switch {
		case err == nil:
			continue
		case kind == Core:
			return err
		case errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrStreamNotFound):
			log.Info("queue worker: waiting for the consumer", "stream", StreamName, "consumer", ConsumerName)
		default:
			// A cluster still electing its JetStream leader, a broker not
			// reachable yet: worth another try, as in a container started
			// before the others.
			log.Warn("queue worker: cannot attach to the consumer yet", "err", err)
		}
		if shared.Sleep(ctx, backoff.Next()) != nil {
			return nil
		}
	}

	closed := nc.StatusChanged(nats.CLOSED)
	defer nc.RemoveStatusListener(closed)
	report := time.NewTicker(10 * time.Second)
	defer report.Stop()
	for {
		select {
		case <-ctx.Done():
			stopCtx, cancel := context.WithTimeout(context.Background(), stopTimeout)
			w.stop(stopCtx)
			cancel()
			logStats(log, c.stats(name, kind, nil))
			return nil
		case <-closed:
			return fmt.Errorf("natsqueue: %s: connection closed", name)
		case <-report.C:
			logStats(log, c.stats(name, kind, w))
		}
	}
}

func logStats(log *slog.Logger, s WorkerStats) {
	log.Info("queue worker: counts", "processed", s.Processed, "redelivered", s.Redelivered,
		"poison", s.Poison, "ack_errors", s.AckErrors, "dropped", s.Dropped, "pending", s.Pending)
}

// logLimit lets one log line through per interval and counts the ones it held
// back. It is not safe for concurrent use.
type logLimit struct {
	last time.Time
	held int
}

// allow says whether a line may be logged now and, if so, how many were held
// back since the last one.
func (l *logLimit) allow(now time.Time, every time.Duration) (held int, ok bool) {
	if !l.last.IsZero() && now.Sub(l.last) < every {
		l.held++
		return 0, false
	}
	held, l.held, l.last = l.held, 0, now
	return held, true
}

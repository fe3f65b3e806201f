package natsqueue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"commlab/shared"
)

// PoolOptions say which workers a Pool runs. Zero workers of a kind means
// none; the lab and the demo run DefaultWorkers of each.
type PoolOptions struct {
	Core      int // core queue-group workers, named core-1, core-2, ...
	JetStream int // JetStream workers, named js-1, js-2, ...

	// Worker tunes every worker.
	Worker WorkerOptions

	// Publisher, when set, adds its counters to the snapshot.
	Publisher *Publisher

	// SettleMargin is how long a tick stays in flight at least before the core
	// ledger may count it as lost. Default 500ms (see ledger.go).
	SettleMargin time.Duration

	// SweepEvery is how often the dead-letter handler searches the stream for
	// messages whose advisory it missed. Default 10s.
	SweepEvery time.Duration

	// Log receives worker lifecycles at Info. Default: discard.
	Log *slog.Logger

	// onFinish, for tests, sees every tick a worker finished: core seq or
	// JetStream stream seq, and how often it had been delivered.
	onFinish func(worker string, seq, delivered uint64)
}

// Connect opens a NATS connection with the given client name: a
// shared.Broker's Connect method. Each worker gets a connection of its own.
type Connect func(name string, opts ...nats.Option) (*nats.Conn, error)

// DefaultWorkers is how many workers of each kind the lab and the demo run.
const DefaultWorkers = 3

// auditorWait bounds the wait for the auditor to catch up (afterAuditor).
const auditorWait = 5 * time.Second

// Pool runs core and JetStream workers side by side in one process, each on a
// NATS connection of its own, so that killing one is real: its connection
// closes abruptly, exactly as if its process had crashed. It keeps the account
// of both queues: which ticks were published, processed, lost, redelivered,
// still pending, or dead-lettered. It counts what its own workers do: a worker
// of another process in the same group or on the same consumer is invisible
// to it, and the ticks that worker takes show up as unknown, never as lost.
type Pool struct {
	connect Connect
	opts    PoolOptions
	log     *slog.Logger

	ctl      *nats.Conn // the pool's own connection: auditor, dead letters, stream info
	auditor  *nats.Subscription
	stream   jetstream.Stream   // nil when TICKWORK does not exist and no JetStream worker runs
	consumer jetstream.Consumer // likewise

	core         *coreLedger
	js           *jsLedger
	deadLettered atomic.Uint64
	startSeq     uint64 // TICKWORK's last sequence when the pool started
	backlog      uint64 // messages TICKWORK held when the pool started

	slots  []*slot // core first, then JetStream, each in number order
	cancel context.CancelFunc
	wg     sync.WaitGroup // the dead-letter handler
}

// slot is one numbered worker across its lives.
type slot struct {
	kind Kind
	name string
	c    counters

	mu   sync.Mutex
	live *worker // nil while dead
}

// Killed says what a worker held when it was killed.
type Killed struct {
	Name string `json:"name"`
	Kind Kind   `json:"kind"`
	// Held is, for a core worker, the ticks it had received and not finished:
	// lost with it (exact when none was still on the wire). For a JetStream
	// worker it is the unacked ticks it abandoned: the one in its job, and
	// those pulled ahead as far as it saw them. None of them is lost: they
	// stay in the stream, and the server redelivers them once AckWait has
	// passed.
	Held uint64 `json:"held"`
}

// StartPool starts the pool's workers, each on a connection from connect
// (called with the worker's name), plus the pool's own connection for its
// bookkeeping and the dead-letter handler. ctx bounds the start only; the
// pool runs until Close. Create the streams first (SetupStreams) when the pool
// has JetStream workers, and start the feed after the pool: the core account
// begins once every worker has joined, and whatever TICKWORK holds by then
// counts as backlog, not as published.
func StartPool(ctx context.Context, connect Connect, opts *PoolOptions) (_ *Pool, err error) {
	var o PoolOptions
	if opts != nil {
		o = *opts
	}
	if o.Core < 0 || o.JetStream < 0 {
		return nil, fmt.Errorf("natsqueue: pool: worker counts %d, %d must not be negative", o.Core, o.JetStream)
	}
	if o.SettleMargin <= 0 {
		o.SettleMargin = 500 * time.Millisecond
	}
	if o.SweepEvery <= 0 {
		o.SweepEvery = defaultSweepEvery
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Worker.Log == nil {
		o.Worker.Log = o.Log
	}
	o.Worker = o.Worker.withDefaults()
	p := &Pool{
		connect: connect, opts: o, log: o.Log.With("pattern", "queue"),
		core: newCoreLedger(o.SettleMargin), js: newJSLedger(),
	}
	defer func() {
		if err != nil {
			p.Close(ctx)
		}
	}()
	if p.ctl, err = connect("queue-pool"); err != nil {
		return nil, fmt.Errorf("natsqueue: pool: %w", err)
	}
	if err = p.openStream(ctx); err != nil {
		return nil, err
	}
	// The auditor subscribes before any worker, so every tick a worker can get
	// was also sent to the auditor. A plain subscriber beside a queue group
	// gets every message; the group shares them.
	if p.auditor, err = p.ctl.Subscribe(Subject, p.audit); err != nil {
		return nil, fmt.Errorf("natsqueue: pool: auditor: %w", err)
	}
	if err = p.auditor.SetPendingLimits(1_000_000, 256<<20); err != nil {
		return nil, fmt.Errorf("natsqueue: pool: auditor: %w", err)
	}
	if err = p.ctl.Flush(); err != nil {
		return nil, fmt.Errorf("natsqueue: pool: auditor: %w", err)
	}
	if p.stream != nil {
		dl, err := startDeadLetters(ctx, p.ctl, &p.deadLettered, p.log)
		if err != nil {
			return nil, err
		}
		dctx, cancel := context.WithCancel(context.Background())
		p.cancel = cancel
		p.wg.Go(func() { dl.run(dctx, o.SweepEvery) })
	}
	for i := 1; i <= o.Core; i++ {
		p.slots = append(p.slots, &slot{kind: Core, name: workerName(Core, i)})
	}
	for i := 1; i <= o.JetStream; i++ {
		p.slots = append(p.slots, &slot{kind: JetStream, name: workerName(JetStream, i)})
	}
	for _, s := range p.slots {
		if err = p.start(ctx, s); err != nil {
			return nil, err
		}
	}
	if err = p.beginAccount(ctx); err != nil {
		return nil, err
	}
	return p, nil
}

// beginAccount starts the core ledger once every worker has joined the group.
// Each worker's subscribe was confirmed by a round trip; the round trip of
// afterAuditor comes after them all, so every tick the server sends the
// auditor after it was sent while the whole group listened.
func (p *Pool) beginAccount(ctx context.Context) error {
	if err := p.afterAuditor(ctx, func() { p.core.begin(time.Now()) }); err != nil {
		return fmt.Errorf("natsqueue: pool: begin the account: %w", err)
	}
	return nil
}

// afterAuditor runs fn on the auditor's goroutine once the auditor has
// handled every tick the server sent it before now: a round trip on the
// pool's connection (the server answers it after whatever it had queued for
// the auditor), then a barrier behind the ticks the client still holds. It
// returns when fn has run, or after auditorWait at most.
func (p *Pool) afterAuditor(ctx context.Context, fn func()) error {
	ctx, cancel := context.WithTimeout(ctx, auditorWait) // FlushWithContext wants a deadline
	defer cancel()
	if err := p.ctl.FlushWithContext(ctx); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	ran := make(chan struct{})
	if err := p.ctl.Barrier(func() {
		fn()
		close(ran)
	}); err != nil {
		return fmt.Errorf("barrier: %w", err)
	}
	select {
	case <-ran:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// openStream finds TICKWORK and notes where it stood, so the snapshot can say
// what arrived since. Without JetStream workers a missing stream is no error.
func (p *Pool) openStream(ctx context.Context) error {
	js, err := jetstream.New(p.ctl)
	if err != nil {
		return fmt.Errorf("natsqueue: pool: jetstream: %w", err)
	}
	stream, err := js.Stream(ctx, StreamName)
	if errors.Is(err, jetstream.ErrStreamNotFound) && p.opts.JetStream == 0 {
		return nil
	}
	if err != nil {
		return fmt.Errorf("natsqueue: pool: stream %s (create it with SetupStreams): %w", StreamName, err)
	}
	consumer, err := stream.Consumer(ctx, ConsumerName)
	if err != nil {
		return fmt.Errorf("natsqueue: pool: consumer %s (create it with SetupStreams): %w", ConsumerName, err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return fmt.Errorf("natsqueue: pool: stream %s: %w", StreamName, err)
	}
	p.stream, p.consumer = stream, consumer
	p.startSeq, p.backlog = info.State.LastSeq, info.State.Msgs
	return nil
}

func workerName(kind Kind, i int) string {
	if kind == JetStream {
		return fmt.Sprintf("js-%d", i)
	}
	return fmt.Sprintf("core-%d", i)
}

// audit runs on the auditor's goroutine for every message on work.ticks.
func (p *Pool) audit(m *nats.Msg) {
	t, err := shared.ParseTick(m.Data)
	if err != nil {
		p.core.auditInvalid()
		return
	}
	p.core.audit(t.Seq, time.Now())
}

// start begins a new life for s on a new connection. Caller holds s.mu or
// owns s exclusively.
func (p *Pool) start(ctx context.Context, s *slot) error {
	nc, err := p.connect(s.name)
	if err != nil {
		return fmt.Errorf("natsqueue: %s: %w", s.name, err)
	}
	h := hooks{
		coreDone: func(seq uint64) {
			p.core.finish(seq, time.Now())
			if p.opts.onFinish != nil {
				p.opts.onFinish(s.name, seq, 1)
			}
		},
		jsDone: func(seq, delivered uint64) {
			p.js.finish(seq, time.Now())
			if p.opts.onFinish != nil {
				p.opts.onFinish(s.name, seq, delivered)
			}
		},
	}
	w, err := startWorker(ctx, nc, true, s.kind, s.name, p.opts.Worker, &s.c, h)
	if err != nil {
		nc.Close()
		return err
	}
	s.live = w
	return nil
}

func (p *Pool) slot(name string) (*slot, error) {
	for _, s := range p.slots {
		if s.name == name {
			return s, nil
		}
	}
	return nil, fmt.Errorf("natsqueue: no worker %q", name)
}

// Names lists the pool's workers: core-1, ..., js-1, ...
func (p *Pool) Names() []string {
	names := make([]string, len(p.slots))
	for i, s := range p.slots {
		names[i] = s.name
	}
	return names
}

// Kill kills the named worker as a crash would: its job is abandoned and its
// connection closed at once. A core worker's ticks in hand are lost; a
// JetStream worker's unacked ticks come back to the others after AckWait.
func (p *Pool) Kill(name string) (Killed, error) {
	s, err := p.slot(name)
	if err != nil {
		return Killed{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.live == nil {
		return Killed{}, fmt.Errorf("natsqueue: %s is already dead", name)
	}
	held := s.live.kill()
	s.live = nil
	return Killed{Name: name, Kind: s.kind, Held: held}, nil
}

// Revive starts the named, dead worker again on a new connection. A revived
// core worker gets only ticks published from now on; a revived JetStream
// worker picks up whatever the stream holds.
func (p *Pool) Revive(ctx context.Context, name string) error {
	s, err := p.slot(name)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.live != nil {
		return fmt.Errorf("natsqueue: %s is alive", name)
	}
	if err := p.start(ctx, s); err != nil {
		return err
	}
	s.c.restarts.Add(1)
	return nil
}

// alive reports whether the named worker is alive.
func (p *Pool) alive(name string) bool {
	s, err := p.slot(name)
	if err != nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.live != nil
}

// holding reports whether the named worker has work in hand (see worker.holding).
func (p *Pool) holding(name string) bool {
	s, err := p.slot(name)
	if err != nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.live != nil && s.live.holding()
}

// Close stops every live worker gracefully, the dead-letter handler and the
// pool's connection. Unlike Kill, a stop lets each worker finish (and ack) what
// it holds, but only until ctx ends: then the rest is abandoned, as in a kill,
// and Close returns. Give ctx a deadline; the lab passes what is left of its
// shutdown grace.
func (p *Pool) Close(ctx context.Context) {
	if p.cancel != nil {
		p.cancel() // the dead-letter handler ends while the workers finish
	}
	var wg sync.WaitGroup
	for _, s := range p.slots {
		wg.Go(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.live != nil {
				s.live.stop(ctx)
				s.live = nil
			}
		})
	}
	wg.Wait()
	p.wg.Wait()
	if p.ctl != nil {
		p.ctl.Close()
	}
}

// Snapshot is the pool's account at one moment, as /api/stats shows it.
type Snapshot struct {
	Workers   []WorkerStats   `json:"workers"`
	Core      CoreTotals      `json:"core"`
	JetStream JetStreamTotals `json:"jetstream"`
	Publisher *PublisherStats `json:"publisher,omitempty"`
	Error     string          `json:"error,omitempty"` // why the JetStream figures are missing
}

// JetStreamTotals is the JetStream work queue's account.
type JetStreamTotals struct {
	Published    uint64 `json:"published"`     // messages TICKWORK stored since the pool started
	Backlog      uint64 `json:"backlog"`       // messages TICKWORK already held when the pool started
	Processed    uint64 `json:"processed"`     // distinct messages this pool's workers processed
	Duplicates   uint64 `json:"duplicates"`    // processed again: a redelivery after the job was done
	Redelivered  uint64 `json:"redelivered"`   // deliveries with NumDelivered > 1
	Pending      uint64 `json:"pending"`       // waiting for a worker, or with one and unacked
	Unacked      uint64 `json:"unacked"`       // of the pending: delivered, ack awaited (NumAckPending)
	DeadLettered uint64 `json:"dead_lettered"` // moved to work.dead after MaxDeliver by this pool's handler
	InStream     uint64 `json:"in_stream"`     // messages in TICKWORK now
	AckWaitMs    int64  `json:"ack_wait_ms"`
}

// Snapshot reads every counter, settles the core ledger, and asks the server
// about the stream and the consumer (bounded by ctx).
func (p *Pool) Snapshot(ctx context.Context) Snapshot {
	var snap Snapshot
	// The server first, the pool's own counters after: a tick is counted
	// processed before its ack deletes it, so every deletion the server
	// reports is already in the counters read after it.
	if p.stream != nil {
		if err := p.streamTotals(ctx, &snap.JetStream); err != nil {
			snap.Error = err.Error()
		}
	}
	// Then the auditor catches up: every tick the stream has stored, or a
	// worker has finished, was sent to the auditor too, and is now counted as
	// published. Failing that (a closing pool), the core figures are a moment
	// behind, which settling tolerates.
	if err := p.afterAuditor(ctx, func() {}); err != nil {
		p.log.Debug("queue pool: snapshot: auditor did not catch up", "err", err)
	}
	watermark := uint64(noWatermark)
	var dropped, lostByWorkers uint64
	for _, s := range p.slots {
		s.mu.Lock()
		ws := s.c.stats(s.name, s.kind, s.live)
		if s.kind == Core && s.live != nil {
			// An idle worker holds nothing. A busy one may hold the tick it
			// started last and any after it, never one before it.
			if idle, ok := s.live.idle(); ok && !idle {
				watermark = min(watermark, s.live.lastStarted.Load())
			}
		}
		s.mu.Unlock()
		snap.Workers = append(snap.Workers, ws)
		if s.kind == Core {
			dropped += ws.Dropped
			lostByWorkers += ws.Lost + ws.Dropped
		}
		snap.JetStream.Redelivered += ws.Redelivered
	}
	p.core.settle(time.Now(), watermark)
	snap.Core = p.core.totals(lostByWorkers)
	snap.Core.Dropped = min(dropped, snap.Core.Lost)

	snap.JetStream.Processed, snap.JetStream.Duplicates = p.js.counts()
	snap.JetStream.DeadLettered = p.deadLettered.Load()
	snap.JetStream.Backlog = p.backlog
	if p.opts.Publisher != nil {
		ps := p.opts.Publisher.Stats()
		snap.Publisher = &ps
	}
	return snap
}

func (p *Pool) streamTotals(ctx context.Context, t *JetStreamTotals) error {
	si, err := p.stream.Info(ctx)
	if err != nil {
		return fmt.Errorf("natsqueue: stream info: %w", err)
	}
	ci, err := p.consumer.Info(ctx)
	if err != nil {
		return fmt.Errorf("natsqueue: consumer info: %w", err)
	}
	if si.State.LastSeq > p.startSeq {
		t.Published = si.State.LastSeq - p.startSeq
	}
	t.InStream = si.State.Msgs
	t.Unacked = uint64(ci.NumAckPending)
	t.Pending = ci.NumPending + t.Unacked
	t.AckWaitMs = ci.Config.AckWait.Milliseconds()
	return nil
}

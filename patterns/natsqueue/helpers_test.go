package natsqueue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"commlab/shared"
	"commlab/shared/labtest"
)

// testAckWait keeps redelivery quick: the package's tests run in seconds.
const testAckWait = 500 * time.Millisecond

// testLab is a real lab (embedded NATS, feed, gateway) with the work queue set
// up and the feed publishing every tick to work.ticks through a Publisher, as
// the lab wires it.
type testLab struct {
	*labtest.Lab
	pub *Publisher
}

func startLab(t *testing.T) *testLab {
	t.Helper()
	return startLabWith(t, StreamOptions{AckWait: testAckWait})
}

// startLabWith is startLab with the work queue configured by so.
func startLabWith(t *testing.T, so StreamOptions) *testLab {
	t.Helper()
	lab := labtest.Start(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := SetupStreams(ctx, lab.NC, &so); err != nil {
		t.Fatal(err)
	}
	pub, err := NewPublisher(lab.NC, &PublisherOptions{Epoch: lab.Feed.Epoch(), Log: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	lab.Feed.AlsoPublish(pub.Publish)
	return &testLab{Lab: lab, pub: pub}
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// publish produces n ticks on the feed and waits until TICKWORK has acked every
// one: from then on they exist in both queues.
func (tl *testLab) publish(t *testing.T, n int) []shared.Tick {
	t.Helper()
	before := tl.pub.Stats().Acked
	ticks := tl.Publish(t, n)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tl.pub.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := tl.pub.Stats().Acked - before; got != uint64(n) {
		t.Fatalf("got %d ticks acked by %s, want %d (publisher %+v)", got, StreamName, n, tl.pub.Stats())
	}
	return ticks
}

// finished records what the pool's workers finished, through the test hook.
type finished struct {
	mu   sync.Mutex
	by   map[uint64][]string // seq -> the workers that finished it
	redo map[uint64]uint64   // seq -> delivery count when it was finished, if > 1
}

func newFinished() *finished {
	return &finished{by: make(map[uint64][]string), redo: make(map[uint64]uint64)}
}

func (f *finished) hook(worker string, seq, delivered uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.by[seq] = append(f.by[seq], worker)
	if delivered > 1 {
		f.redo[seq] = delivered
	}
}

// count returns how many ticks worker has finished.
func (f *finished) count(worker string) (n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, ws := range f.by {
		for _, w := range ws {
			if w == worker {
				n++
			}
		}
	}
	return n
}

func (f *finished) snapshot() (by map[uint64][]string, redo map[uint64]uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	by, redo = make(map[uint64][]string), make(map[uint64]uint64)
	for k, v := range f.by {
		by[k] = append([]string(nil), v...)
	}
	for k, v := range f.redo {
		redo[k] = v
	}
	return by, redo
}

// startPool runs a pool until the test ends. A short settle margin keeps the
// core ledger quick; on one host a tick's way to an idle worker takes microseconds.
func startPool(t *testing.T, tl *testLab, opts PoolOptions) *Pool {
	t.Helper()
	if opts.Log == nil {
		opts.Log = testLogger(t)
	}
	if opts.SettleMargin == 0 {
		opts.SettleMargin = 50 * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := StartPool(ctx, tl.Broker.Connect, &opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closePool(t, p) })
	return p
}

// closePool stops the pool as the lab does at shutdown, within 5 s.
func closePool(t *testing.T, p *Pool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p.Close(ctx)
}

// waitSnapshot polls the pool's snapshot every few ms until ok holds, for at
// most 15 s. The counters it waits on have no signal of their own.
func waitSnapshot(t *testing.T, p *Pool, what string, ok func(Snapshot) bool) Snapshot {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		snap := p.Snapshot(ctx)
		cancel()
		if ok(snap) {
			return snap
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; last snapshot:\n%s", what, dump(snap))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func dump(s Snapshot) string {
	out := fmt.Sprintf("core %+v\njetstream %+v\nerror %q\n", s.Core, s.JetStream, s.Error)
	for _, w := range s.Workers {
		out += fmt.Sprintf("  %+v\n", w)
	}
	return out
}

// live returns the pool's live worker by name (test access to internals).
func live(t *testing.T, p *Pool, name string) *worker {
	t.Helper()
	s, err := p.slot(name)
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.live == nil {
		t.Fatalf("%s is dead", name)
	}
	return s.live
}

// streamState reads TICKWORK's message count and the consumer's unacked and
// undelivered counts straight from the server.
func streamState(t *testing.T, nc *nats.Conn) (msgs uint64, ackPending int, numPending uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	s, err := js.Stream(ctx, StreamName)
	if err != nil {
		t.Fatal(err)
	}
	si, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.Consumer(ctx, ConsumerName)
	if err != nil {
		t.Fatal(err)
	}
	ci, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return si.State.Msgs, ci.NumAckPending, ci.NumPending
}

// ackFloor reads the consumer's ack floor (every stream seq up to it is acked
// or given up on) and its count of unacked deliveries.
func ackFloor(t *testing.T, nc *nats.Conn) (floor uint64, ackPending int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := jetStreamOf(t, nc).Consumer(ctx, StreamName, ConsumerName)
	if err != nil {
		t.Fatal(err)
	}
	ci, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return ci.AckFloor.Stream, ci.NumAckPending
}

// inStream reports whether TICKWORK still holds the message at seq.
func inStream(t *testing.T, nc *nats.Conn, seq uint64) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := jetStreamOf(t, nc).Stream(ctx, StreamName)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	return true
}

// lastDeadLetter returns the newest message in TICKDEAD.
func lastDeadLetter(t *testing.T, nc *nats.Conn) *jetstream.RawStreamMsg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	s, err := js.Stream(ctx, DeadStreamName)
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.GetLastMsgForSubject(ctx, DeadSubject)
	if err != nil {
		t.Fatalf("no dead letter in %s: %v", DeadStreamName, err)
	}
	return m
}

// discard is a writer for output a test does not read.
var discard = io.Discard

// movedCounter is a counter for DeadLetterOptions.Moved.
type movedCounter struct{ n atomic.Uint64 }

func jetStreamOf(t *testing.T, nc *nats.Conn) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

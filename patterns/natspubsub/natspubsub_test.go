package natspubsub

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"commlab/shared"
	"commlab/shared/labtest"
)

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), nil))
}

// subscriber is one Subscribe loop running for a test on a NATS connection of
// its own, as a separate program would be.
type subscriber struct {
	ticks <-chan shared.Tick
	stats *Stats
	nc    *nats.Conn
}

// startSubscriber runs Subscribe until the test ends, then checks that it
// returned nil once its context was cancelled. It returns once the server has
// the subscription, so every tick published after that reaches it.
func startSubscriber(t *testing.T, lab *labtest.Lab, subject string, opts Options) *subscriber {
	t.Helper()
	return startHeldSubscriber(t, lab, subject, opts, nil)
}

// startHeldSubscriber is startSubscriber with a hook: hold, if not nil, runs
// in fn before each tick is handed on, so a test can stall the subscriber.
func startHeldSubscriber(t *testing.T, lab *labtest.Lab, subject string, opts Options, hold func(shared.Tick)) *subscriber {
	t.Helper()
	if opts.Stats == nil {
		opts.Stats = new(Stats)
	}
	opts.Log = testLogger(t)
	nc, err := lab.Broker.Connect("test-"+subject, ErrorHandler(opts.Stats, opts.Log))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close) // runs after the cleanup below has stopped Subscribe

	ctx, cancel := context.WithCancel(context.Background())
	ticks := make(chan shared.Tick, 10_000)
	done := make(chan struct{})
	var subErr error
	go func() {
		defer close(done)
		subErr = Subscribe(ctx, nc, subject, func(tk shared.Tick) {
			if hold != nil {
				hold(tk)
			}
			select {
			case ticks <- tk:
			case <-ctx.Done():
			}
		}, &opts)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
			if subErr != nil {
				t.Errorf("got Subscribe(%q) error %v after cancel, want nil", subject, subErr)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Subscribe(%q) did not return within 10s of cancel", subject)
		}
	})

	// Subscribed is a gauge with no signal of its own: poll it, but stop at
	// once if Subscribe gave up instead.
	deadline := time.Now().Add(10 * time.Second)
	for !opts.Stats.Subscribed.Load() {
		select {
		case <-done:
			t.Fatalf("Subscribe(%q) returned %v before subscribing", subject, subErr)
		case <-time.After(2 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("Subscribe(%q) not subscribed within 10s", subject)
		}
	}
	return &subscriber{ticks: ticks, stats: opts.Stats, nc: nc}
}

// next returns the next tick fn got, waiting at most 10s.
func (s *subscriber) next(t *testing.T) shared.Tick {
	t.Helper()
	select {
	case tk := <-s.ticks:
		return tk
	case <-time.After(10 * time.Second):
		t.Fatal("no tick within 10s")
		return shared.Tick{}
	}
}

// expect checks that the next ticks fn got are exactly want: same seqs, in
// order, with the same bytes.
func (s *subscriber) expect(t *testing.T, want []*shared.Tick) {
	t.Helper()
	for _, w := range want {
		got := s.next(t)
		if got.Seq != w.Seq {
			t.Fatalf("got seq %d, want %d", got.Seq, w.Seq)
		}
		if !bytes.Equal(got.Raw, w.Raw) {
			t.Fatalf("seq %d: got Raw %s, want %s", got.Seq, got.Raw, w.Raw)
		}
	}
}

// counts is the part of a StatsSnapshot tests compare exactly.
type counts struct {
	Received, Invalid, Dups, Gaps, Dropped, LastSeq uint64
}

func countsOf(s *Stats) counts {
	return counts{s.Received.Load(), s.Invalid.Load(), s.Dups.Load(), s.Gaps.Load(), s.Dropped.Load(), s.LastSeq.Load()}
}

// held returns the gateway's ticks 1..n: the ticks, and the bytes, every HTTP
// pattern sends for those seqs.
func held(t *testing.T, lab *labtest.Lab, n int) []*shared.Tick {
	t.Helper()
	ticks, after, reset := lab.Gateway.History.Since(0, n, nil)
	if len(ticks) != n || after != 0 || reset {
		t.Fatalf("gateway holds %d ticks (after %d, reset %v), want %d from seq 1", len(ticks), after, reset, n)
	}
	return ticks
}

// TestSubscribeEveryTick is the pattern's promise: every subscriber on ticks.>
// gets every tick, in order, with the bytes the HTTP patterns send for it.
func TestSubscribeEveryTick(t *testing.T) {
	const subscribers, ticks = 5, 500
	lab := labtest.Start(t, nil)
	subs := make([]*subscriber, subscribers)
	for i := range subs {
		subs[i] = startSubscriber(t, lab, "ticks.>", Options{})
	}

	lab.Publish(t, ticks)
	want := held(t, lab, ticks)
	for i, s := range subs {
		t.Run(fmt.Sprintf("subscriber %d", i), func(t *testing.T) {
			s.expect(t, want)
			if got, want := countsOf(s.stats), (counts{Received: ticks, LastSeq: ticks}); got != want {
				t.Errorf("got counts %+v, want %+v", got, want)
			}
			if got := s.stats.SlowConsumerEvents.Load(); got != 0 {
				t.Errorf("got %d slow-consumer reports, want 0", got)
			}
		})
	}
}

// TestSubjects checks which ticks each subscription gets: the server filters by
// subject, * is exactly one token, > one or more. Halfway through the ticks, a
// message that is not a tick goes to ticks.ACME.x, as `nats pub ticks.ACME.x`
// does in "Try this" 1: it reaches only the subscriptions with three tokens
// or >, and each counts it as invalid; so does the gateway, on ticks.>.
//
// To know that a subscriber got nothing more, not merely nothing yet, a fence
// message follows the ticks on a subject it matches, from the feed's own
// connection: one publisher's messages arrive in order, so when the fence is
// in, every tick before it that matched is in too.
func TestSubjects(t *testing.T) {
	acme := func(tk *shared.Tick) bool { return tk.Symbol == "ACME" }
	every := func(*shared.Tick) bool { return true }
	none := func(*shared.Tick) bool { return false }
	tests := []struct {
		subject   string
		want      func(*shared.Tick) bool
		getsACMEx bool   // gets the message published to ticks.ACME.x
		fence     string // a subject the subscription matches
	}{
		{"ticks.ACME", acme, false, "ticks.ACME"},
		{"*.ACME", acme, false, "quotes.ACME"},
		{"ticks.*", every, false, "ticks.FENCE"},
		{"ticks.>", every, true, "ticks.FENCE"},
		{"ticks.ACME.x", none, true, "ticks.ACME.x"},
		{"ticks.ACME.*", none, true, "ticks.ACME.x"},
		{"ticks.ACME.>", none, true, "ticks.ACME.x"},
		{"ticks", none, false, "ticks"},
	}
	const ticks = 200
	lab := labtest.Start(t, nil)
	subs := make([]*subscriber, len(tests))
	for i, tc := range tests {
		subs[i] = startSubscriber(t, lab, tc.subject, Options{})
	}
	lab.Publish(t, ticks/2)
	// From the feed's connection, so it arrives between ticks 100 and 101
	// everywhere: once the gateway holds 101, it has seen it.
	if err := lab.NC.Publish("ticks.ACME.x", []byte("not a tick")); err != nil {
		t.Fatal(err)
	}
	lab.Publish(t, ticks/2)
	if got := lab.Gateway.Invalid(); got != 1 {
		t.Errorf("gateway on ticks.>: got %d invalid messages, want 1, the one on ticks.ACME.x", got)
	}
	all := held(t, lab, ticks)

	const fenceSeq = 1_000_000 // fences are ticks far past the feed's seqs
	for i, tc := range tests {
		fence := shared.Tick{Seq: fenceSeq + uint64(i), Symbol: "FENCE", Price: 1, TUs: time.Now().UnixMicro()}
		fence.Encode()
		if err := lab.NC.Publish(tc.fence, fence.Raw); err != nil {
			t.Fatal(err)
		}
	}
	if err := lab.NC.Flush(); err != nil {
		t.Fatal(err)
	}

	for i, tc := range tests {
		t.Run(tc.subject, func(t *testing.T) {
			var want []uint64
			for _, tk := range all {
				if tc.want(tk) {
					want = append(want, tk.Seq)
				}
			}
			var got []uint64
			for {
				tk := subs[i].next(t)
				if tk.Seq == fenceSeq+uint64(i) {
					break
				}
				if tk.Seq < fenceSeq { // other subscribers' fences may match too
					got = append(got, tk.Seq)
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("got %d ticks %v, want %d ticks %v", len(got), got, len(want), want)
			}
			var wantInvalid uint64
			if tc.getsACMEx {
				wantInvalid = 1
			}
			if got := subs[i].stats.Invalid.Load(); got != wantInvalid {
				t.Errorf("got %d messages that were not ticks, want %d (matches ticks.ACME.x: %v)", got, wantInvalid, tc.getsACMEx)
			}
		})
	}
}

// TestLateSubscriber is "Try this" 4, no subscriber, no message: a subscriber
// to ticks.ACME that comes after 50 ticks gets no ACME tick from before it
// subscribed, only the next one. The gateway's history, from which SSE and
// the other HTTP patterns resume, still holds every tick from seq 1: asked
// for everything after seq 1, as `Last-Event-ID: 1` does, it starts at 2.
func TestLateSubscriber(t *testing.T) {
	lab := labtest.Start(t, nil)
	early := lab.Publish(t, 50)
	if !slices.ContainsFunc(early, func(tk shared.Tick) bool { return tk.Symbol == "ACME" }) {
		t.Fatal("no ACME tick among the first 50: pick another symbol")
	}
	s := startSubscriber(t, lab, "ticks.ACME", Options{})

	var next shared.Tick
	for next.Symbol != "ACME" {
		next = lab.Publish(t, 1)[0]
	}
	if got := s.next(t); got.Seq != next.Seq {
		t.Errorf("got seq %d first, want %d, the first ACME tick published after the subscription", got.Seq, next.Seq)
	}

	ticks, _, reset := lab.Gateway.History.Since(1, 3, nil)
	if len(ticks) != 3 || reset || ticks[0].Seq != 2 {
		t.Errorf("history after seq 1: got %d ticks from %v (reset %v), want 3 from seq 2", len(ticks), ticks, reset)
	}
}

// TestInvalidMessages checks that a message that is not a tick is counted and
// skipped, and the stream goes on with no gap.
func TestInvalidMessages(t *testing.T) {
	lab := labtest.Start(t, nil)
	s := startSubscriber(t, lab, "ticks.>", Options{})
	lab.Publish(t, 3)
	bad := []string{
		"not json",
		"",
		`{"op":"reset","epoch":"x","next":1}`,
		`{"seq":0,"symbol":"ACME","price":1,"t_us":1}`,
		`{"SEQ":4,"SYMBOL":"ACME","PRICE":1,"T_US":1}`,
		`{"seq":4,"symbol":"acme","price":1,"t_us":1}`,
	}
	for _, b := range bad {
		// From the feed's connection, so they arrive between ticks 3 and 4.
		if err := lab.NC.Publish("ticks.X", []byte(b)); err != nil {
			t.Fatal(err)
		}
	}
	lab.Publish(t, 3)

	s.expect(t, held(t, lab, 6))
	want := counts{Received: 6, Invalid: uint64(len(bad)), LastSeq: 6}
	if got := countsOf(s.stats); got != want {
		t.Errorf("got counts %+v, want %+v", got, want)
	}
}

// TestSubscribeEnds checks how Subscribe returns: nil when its context ends,
// an error when it cannot subscribe or its connection is closed under it.
func TestSubscribeEnds(t *testing.T) {
	lab := labtest.Start(t, nil)
	connect := func(t *testing.T) *nats.Conn {
		nc, err := lab.Broker.Connect("test-ends")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		return nc
	}
	// run starts Subscribe on ticks.> and returns its stats and result.
	run := func(t *testing.T, ctx context.Context, nc *nats.Conn) (*Stats, <-chan error) {
		stats := new(Stats)
		done := make(chan error, 1)
		go func() {
			done <- Subscribe(ctx, nc, "ticks.>", func(shared.Tick) {}, &Options{Stats: stats, Log: testLogger(t)})
		}()
		labtest.WaitFor(t, "the subscription", stats.Subscribed.Load)
		return stats, done
	}
	result := func(t *testing.T, done <-chan error) error {
		t.Helper()
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			t.Fatal("Subscribe did not return within 10s")
			return nil
		}
	}

	t.Run("cancel returns nil and unsubscribes", func(t *testing.T) {
		nc := connect(t)
		ctx, cancel := context.WithCancel(context.Background())
		stats, done := run(t, ctx, nc)
		lab.Publish(t, 2)
		cancel()
		if err := result(t, done); err != nil {
			t.Errorf("got %v, want nil", err)
		}
		if stats.Subscribed.Load() {
			t.Error("got Subscribed true after return, want false")
		}
		if n := nc.NumSubscriptions(); n != 0 {
			t.Errorf("got %d subscriptions left on the connection, want 0", n)
		}
	})

	t.Run("a closed connection is an error", func(t *testing.T) {
		nc := connect(t)
		_, done := run(t, context.Background(), nc)
		nc.Close()
		if err := result(t, done); !errors.Is(err, nats.ErrConnectionClosed) {
			t.Errorf("got %v, want nats.ErrConnectionClosed", err)
		}
	})

	t.Run("an ended context returns nil at once", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := Subscribe(ctx, connect(t), "ticks.>", func(shared.Tick) {}, nil); err != nil {
			t.Errorf("got %v, want nil", err)
		}
	})

	for _, subject := range []string{"", "ticks..ACME", "ticks ACME", "ticks."} {
		t.Run(fmt.Sprintf("subject %q is an error", subject), func(t *testing.T) {
			err := Subscribe(context.Background(), connect(t), subject, func(shared.Tick) {}, nil)
			if !errors.Is(err, nats.ErrBadSubject) {
				t.Errorf("got %v, want nats.ErrBadSubject", err)
			}
		})
	}
}

func TestSeesEveryTick(t *testing.T) {
	for subject, want := range map[string]bool{
		"ticks.>":    true,
		"ticks.*":    true,
		"ticks.ACME": false,
		"*.ACME":     false,
		">":          false, // also matches work.ticks: every tick twice
		"ticks":      false,
	} {
		if got := SeesEveryTick(subject); got != want {
			t.Errorf("SeesEveryTick(%q) = %v, want %v", subject, got, want)
		}
	}
}

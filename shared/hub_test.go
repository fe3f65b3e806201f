package shared_test

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"commlab/shared"
)

// drained returns what is left in s's queue without blocking.
func drained(s *shared.Subscription) []uint64 {
	var got []uint64
	for {
		select {
		case tk := <-s.C:
			got = append(got, tk.Seq)
		default:
			return got
		}
	}
}

func isDone(s *shared.Subscription) bool {
	select {
	case <-s.Done():
		return true
	default:
		return false
	}
}

func TestHubEverySubscriberGetsEveryTickInOrder(t *testing.T) {
	tests := []struct {
		name  string
		subs  int
		ticks int
	}{
		{"one subscriber", 1, 100},
		{"three subscribers", 3, 100},
		{"fifty subscribers", 50, 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := shared.NewHub()
			subs := make([]*shared.Subscription, tt.subs)
			for i := range subs {
				subs[i] = h.Subscribe(tt.ticks)
				defer subs[i].Close()
			}
			if got := h.Len(); got != tt.subs {
				t.Fatalf("Len = %d, want %d", got, tt.subs)
			}
			sent := make([]*shared.Tick, tt.ticks)
			for i := range sent {
				sent[i] = tick(uint64(i + 1))
				h.Publish(sent[i])
			}
			for i, s := range subs {
				for j, want := range sent {
					if got := <-s.C; got != want {
						t.Fatalf("subscriber %d, tick %d: got seq %d, want seq %d (the published pointer)", i, j, got.Seq, want.Seq)
					}
				}
				if isDone(s) {
					t.Errorf("subscriber %d was cut off: %v", i, s.Err())
				}
			}
		})
	}
}

func TestHubCutsSlowSubscriberOnly(t *testing.T) {
	const queue, n = 4, 1000
	h := shared.NewHub()
	slow := h.Subscribe(queue) // never reads
	defer slow.Close()

	readers := make([]*shared.Subscription, 3)
	results := make([][]uint64, len(readers))
	var wg sync.WaitGroup
	for i := range readers {
		readers[i] = h.Subscribe(queue)
		defer readers[i].Close()
	}
	// The readers read concurrently but must keep up; a lock-step handshake keeps
	// their queues from ever filling so the test is deterministic.
	ack := make(chan struct{})
	for i, s := range readers {
		wg.Go(func() {
			for range n {
				tk := <-s.C
				results[i] = append(results[i], tk.Seq)
				ack <- struct{}{}
			}
		})
	}
	for seq := uint64(1); seq <= n; seq++ {
		h.Publish(tick(seq))
		for range readers {
			<-ack
		}
	}
	wg.Wait()

	<-slow.Done()
	if err := slow.Err(); !errors.Is(err, shared.ErrSlowConsumer) {
		t.Errorf("slow subscriber Err = %v, want ErrSlowConsumer", err)
	}
	// It holds exactly the ticks that fit before its queue was full.
	if got, want := drained(slow), seqRange(1, queue); !slices.Equal(got, want) {
		t.Errorf("slow subscriber queue = %v, want %v", got, want)
	}
	for i, got := range results {
		if want := seqRange(1, n); !slices.Equal(got, want) {
			t.Errorf("reader %d got %d ticks, want all %d in order", i, len(got), n)
		}
		if isDone(readers[i]) {
			t.Errorf("reader %d was cut off: %v", i, readers[i].Err())
		}
	}
	if got := h.Len(); got != len(readers) {
		t.Errorf("Len = %d, want %d (the slow one removed)", got, len(readers))
	}
}

// TestHubPublishNeverBlocks publishes far more ticks than any queue holds while
// one subscriber never reads: Publish must return every time.
func TestHubPublishNeverBlocks(t *testing.T) {
	const n = 100_000
	h := shared.NewHub()
	stuck := h.Subscribe(1)
	defer stuck.Close()
	ticks := make([]*shared.Tick, 64)
	for i := range ticks {
		ticks[i] = tick(uint64(i + 1))
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range n {
			h.Publish(ticks[i%len(ticks)])
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Publish blocked behind a subscriber that never reads")
	}
	if err := stuck.Err(); !errors.Is(err, shared.ErrSlowConsumer) {
		t.Errorf("stuck subscriber Err = %v, want ErrSlowConsumer", err)
	}
}

func TestHubSubscribeZeroQueueHoldsOne(t *testing.T) {
	h := shared.NewHub()
	s := h.Subscribe(0)
	defer s.Close()
	h.Publish(tick(1))
	if isDone(s) {
		t.Fatalf("Subscribe(0) was cut off by the first tick: %v; want a queue of at least 1", s.Err())
	}
	if got := drained(s); !slices.Equal(got, []uint64{1}) {
		t.Errorf("got %v, want [1]", got)
	}
}

func TestSubscriptionClose(t *testing.T) {
	h := shared.NewHub()
	s := h.Subscribe(4)
	other := h.Subscribe(4)
	defer other.Close()

	s.Close()
	if !isDone(s) {
		t.Fatal("Done is open after Close")
	}
	if err := s.Err(); err == nil || errors.Is(err, shared.ErrSlowConsumer) {
		t.Errorf("Err after Close = %v, want a non-nil close error", err)
	}
	s.Close() // idempotent: must not panic closing done twice
	if got := h.Len(); got != 1 {
		t.Errorf("Len after Close = %d, want 1", got)
	}
	h.Publish(tick(1))
	if got := drained(s); len(got) != 0 {
		t.Errorf("closed subscription received %v, want nothing", got)
	}
	if got := drained(other); !slices.Equal(got, []uint64{1}) {
		t.Errorf("other subscription received %v, want [1]", got)
	}
}

func TestSubscriptionCloseAfterCutKeepsReason(t *testing.T) {
	h := shared.NewHub()
	s := h.Subscribe(1)
	h.Publish(tick(1))
	h.Publish(tick(2)) // queue full: cut
	<-s.Done()
	s.Close()
	s.Close()
	if err := s.Err(); !errors.Is(err, shared.ErrSlowConsumer) {
		t.Errorf("Err after cut then Close = %v, want ErrSlowConsumer", err)
	}
}

func TestHubCutAll(t *testing.T) {
	errRestart := errors.New("test restart")
	h := shared.NewHub()
	subs := []*shared.Subscription{h.Subscribe(4), h.Subscribe(4), h.Subscribe(4)}
	h.Publish(tick(1))
	h.CutAll(errRestart)
	for i, s := range subs {
		<-s.Done()
		if err := s.Err(); !errors.Is(err, errRestart) {
			t.Errorf("subscriber %d Err = %v, want %v", i, err, errRestart)
		}
		s.Close() // safe after the cut
	}
	if got := h.Len(); got != 0 {
		t.Errorf("Len after CutAll = %d, want 0", got)
	}
	h.Publish(tick(2))
	for i, s := range subs {
		if got := drained(s); !slices.Equal(got, []uint64{1}) {
			t.Errorf("subscriber %d queue = %v, want [1] (nothing after the cut)", i, got)
		}
	}
	h.CutAll(errRestart) // no subscribers: nothing to do
}

// TestHubConcurrent subscribes, publishes and closes from several goroutines;
// under -race it proves the hub's locking.
func TestHubConcurrent(t *testing.T) {
	h := shared.NewHub()
	ticks := []*shared.Tick{tick(1), tick(2), tick(3)}
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range 2000 {
			h.Publish(ticks[i%len(ticks)])
		}
	})
	for range 4 {
		wg.Go(func() {
			for range 200 {
				s := h.Subscribe(2)
				select {
				case <-s.C:
				case <-s.Done():
				default:
				}
				s.Close()
				_ = s.Err()
			}
		})
	}
	wg.Go(func() {
		for range 50 {
			h.CutAll(shared.ErrFeedRestarted)
			_ = h.Len()
		}
	})
	wg.Wait()
	h.CutAll(shared.ErrFeedRestarted)
	if got := h.Len(); got != 0 {
		t.Errorf("Len = %d, want 0", got)
	}
}

// A batch goes to each subscriber whole, in order; one whose queue cannot
// take it all is cut off, and every tick of the batch it did not get, with
// those still queued, counts as dropped.
func TestHubPublishBatch(t *testing.T) {
	h := shared.NewHub()
	roomy := h.Subscribe(10)
	defer roomy.Close()
	tight := h.Subscribe(3)
	defer tight.Close()

	h.PublishBatch([]*shared.Tick{tick(1), tick(2), tick(3), tick(4), tick(5)})
	if got := drained(roomy); !slices.Equal(got, seqRange(1, 5)) {
		t.Errorf("roomy subscriber got %v, want [1 2 3 4 5]", got)
	}
	if !isDone(tight) || !errors.Is(tight.Err(), shared.ErrSlowConsumer) {
		t.Fatalf("tight subscriber: done %v, want cut off as a slow consumer", isDone(tight))
	}
	if got := tight.Dropped(); got != 5 {
		t.Errorf("Dropped = %d, want 5: the three queued and the two that did not fit", got)
	}
}

package shared_test

import (
	"slices"
	"sync"
	"testing"

	"commlab/shared"
)

// historyWith returns a history of the given size after appending first..last.
func historyWith(size int, first, last uint64) *shared.History {
	h := shared.NewHistory(size)
	for s := first; s <= last; s++ {
		h.Append(tick(s))
	}
	return h
}

func TestHistorySince(t *testing.T) {
	tests := []struct {
		name      string
		h         *shared.History
		since     uint64
		limit     int
		wantSeqs  []uint64
		wantAfter uint64
		wantReset bool
	}{
		{"empty, since 0", shared.NewHistory(8), 0, 10, nil, 0, false},
		{"empty, since ahead", shared.NewHistory(8), 5, 10, nil, 0, true},
		{"from the start", historyWith(8, 1, 5), 0, 10, seqRange(1, 5), 0, false},
		{"normal", historyWith(8, 1, 5), 2, 10, seqRange(3, 5), 2, false},
		{"caught up", historyWith(8, 1, 5), 5, 10, nil, 5, false},
		{"limit", historyWith(8, 1, 5), 0, 3, seqRange(1, 3), 0, false},
		{"limit 1", historyWith(8, 1, 5), 3, 1, []uint64{4}, 3, false},
		{"limit 0", historyWith(8, 1, 5), 0, 0, nil, 0, false},
		{"wrapped, oldest held", historyWith(4, 1, 10), 6, 10, seqRange(7, 10), 6, false},
		{"wrapped, since older", historyWith(4, 1, 10), 5, 10, seqRange(7, 10), 6, true},
		{"wrapped, since 0", historyWith(4, 1, 10), 0, 10, seqRange(7, 10), 6, true},
		{"wrapped, since older with limit", historyWith(4, 1, 10), 2, 2, seqRange(7, 8), 6, true},
		{"wrapped many times", historyWith(3, 1, 1000), 997, 10, seqRange(998, 1000), 997, false},
		{"since ahead", historyWith(8, 1, 5), 9, 10, nil, 5, true},
		{"since one ahead", historyWith(8, 1, 5), 6, 10, nil, 5, true},
		{"run not starting at 1", historyWith(8, 100, 104), 101, 10, seqRange(102, 104), 101, false},
		{"run not starting at 1, since older", historyWith(8, 100, 104), 50, 10, seqRange(100, 104), 99, true},
		{"run not starting at 1, since just before", historyWith(8, 100, 104), 99, 10, seqRange(100, 104), 99, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ticks, after, reset := tt.h.Since(tt.since, tt.limit, nil)
			if got := seqs(ticks); !slices.Equal(got, tt.wantSeqs) {
				t.Errorf("Since(%d, %d) ticks = %v, want %v", tt.since, tt.limit, got, tt.wantSeqs)
			}
			if after != tt.wantAfter {
				t.Errorf("Since(%d, %d) after = %d, want %d", tt.since, tt.limit, after, tt.wantAfter)
			}
			if reset != tt.wantReset {
				t.Errorf("Since(%d, %d) reset = %v, want %v", tt.since, tt.limit, reset, tt.wantReset)
			}
		})
	}
}

func TestHistorySinceReturnsTheAppendedTicks(t *testing.T) {
	h := shared.NewHistory(8)
	want := []*shared.Tick{tick(1), tick(2), tick(3)}
	for _, tk := range want {
		h.Append(tk)
	}
	got, _, _ := h.Since(0, 10, nil)
	if !slices.Equal(got, want) {
		t.Fatalf("Since(0) = %v, want the appended pointers %v", got, want)
	}
}

func TestHistorySinceReusesDst(t *testing.T) {
	h := historyWith(8, 1, 5)
	dst := make([]*shared.Tick, 0, 16)
	got, _, _ := h.Since(1, 10, dst)
	if &got[0] != &dst[:1][0] {
		t.Errorf("Since allocated a new slice although dst had room")
	}
	if want := seqRange(2, 5); !slices.Equal(seqs(got), want) {
		t.Errorf("got %v, want %v", seqs(got), want)
	}
}

// Since appends up to limit ticks, however many dst already holds.
func TestHistorySinceLimitExcludesDstPrefix(t *testing.T) {
	h := historyWith(8, 1, 5)
	prefix := []*shared.Tick{tick(100), tick(101)}
	got, _, _ := h.Since(0, 3, prefix)
	if want := []uint64{100, 101, 1, 2, 3}; !slices.Equal(seqs(got), want) {
		t.Errorf("Since(0, 3, 2 ticks already in dst) = %v, want %v: the prefix and 3 appended ticks", seqs(got), want)
	}
}

func TestHistoryNewest(t *testing.T) {
	h := shared.NewHistory(4)
	if got := h.Newest(); got != nil {
		t.Fatalf("empty Newest = seq %d, want nil", got.Seq)
	}
	if got := h.Last(); got != 0 {
		t.Fatalf("empty Last = %d, want 0", got)
	}
	for s := uint64(1); s <= 10; s++ {
		tk := tick(s)
		h.Append(tk)
		if got := h.Newest(); got != tk {
			t.Fatalf("after appending %d: Newest = %v, want the appended tick", s, got)
		}
		if got := h.Last(); got != s {
			t.Fatalf("after appending %d: Last = %d, want %d", s, got, s)
		}
	}
}

func TestHistoryChangedClosesOnAppend(t *testing.T) {
	h := shared.NewHistory(4)
	c1 := h.Changed()
	if c2 := h.Changed(); c1 != c2 {
		t.Fatalf("two Changed calls before an append returned different channels")
	}
	select {
	case <-c1:
		t.Fatal("Changed is closed before any append")
	default:
	}
	h.Append(tick(1))
	select {
	case <-c1:
	default:
		t.Fatal("Changed is still open after an append")
	}
	c3 := h.Changed()
	select {
	case <-c3:
		t.Fatal("the Changed after an append is already closed")
	default:
	}
	h.Append(tick(2))
	<-c3 // a blocking receive: the test hangs (and times out) if Append does not close it
}

func TestHistoryReset(t *testing.T) {
	h := historyWith(4, 1, 6)
	h.Reset()
	if got := h.Last(); got != 0 {
		t.Errorf("after Reset: Last = %d, want 0", got)
	}
	if got := h.Newest(); got != nil {
		t.Errorf("after Reset: Newest = seq %d, want nil", got.Seq)
	}
	if ticks, after, reset := h.Since(0, 10, nil); len(ticks) != 0 || after != 0 || reset {
		t.Errorf("after Reset: Since(0) = %v, %d, %v; want [], 0, false", seqs(ticks), after, reset)
	}
	if ticks, after, reset := h.Since(6, 10, nil); len(ticks) != 0 || after != 0 || !reset {
		t.Errorf("after Reset: Since(6) = %v, %d, %v; want [], 0, true", seqs(ticks), after, reset)
	}

	// A restarted feed starts again at seq 1.
	for s := uint64(1); s <= 3; s++ {
		h.Append(tick(s))
	}
	if ticks, after, reset := h.Since(0, 10, nil); !slices.Equal(seqs(ticks), seqRange(1, 3)) || after != 0 || reset {
		t.Errorf("after Reset and 1..3: Since(0) = %v, %d, %v; want [1 2 3], 0, false", seqs(ticks), after, reset)
	}
}

func TestHistoryNonContiguousAppendStartsNewRun(t *testing.T) {
	tests := []struct {
		name      string
		next      uint64
		since     uint64
		wantSeqs  []uint64
		wantAfter uint64
		wantReset bool
	}{
		{"jump forward, since in the old run", 10, 5, []uint64{10}, 9, true},
		{"jump forward, since just before", 10, 9, []uint64{10}, 9, false},
		{"jump back, since in the old run", 3, 4, nil, 3, true},
		{"jump back, since 0", 3, 0, []uint64{3}, 2, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := historyWith(8, 1, 5)
			h.Append(tick(tt.next))
			if got := h.Newest().Seq; got != tt.next {
				t.Errorf("Newest = %d, want %d", got, tt.next)
			}
			ticks, after, reset := h.Since(tt.since, 10, nil)
			if got := seqs(ticks); !slices.Equal(got, tt.wantSeqs) {
				t.Errorf("Since(%d) ticks = %v, want %v", tt.since, got, tt.wantSeqs)
			}
			if after != tt.wantAfter || reset != tt.wantReset {
				t.Errorf("Since(%d) after, reset = %d, %v; want %d, %v", tt.since, after, reset, tt.wantAfter, tt.wantReset)
			}
		})
	}
}

func TestHistorySizeAtLeastOne(t *testing.T) {
	h := historyWith(0, 1, 3)
	if ticks, after, reset := h.Since(0, 10, nil); !slices.Equal(seqs(ticks), []uint64{3}) || after != 2 || !reset {
		t.Errorf("NewHistory(0) after 1..3: Since(0) = %v, %d, %v; want [3], 2, true", seqs(ticks), after, reset)
	}
}

// TestHistoryConcurrentReaders runs long-poll style readers beside the appender;
// under -race it proves the locking, and each reader sees a contiguous run.
func TestHistoryConcurrentReaders(t *testing.T) {
	const n = 2000
	h := shared.NewHistory(64)
	var wg sync.WaitGroup
	errs := make(chan string, 4)
	for range 4 {
		wg.Go(func() {
			var since uint64
			var dst []*shared.Tick
			for since < n {
				changed := h.Changed()
				ticks, after, reset := h.Since(since, 16, dst[:0])
				if !reset && after != since {
					errs <- "after != since without reset"
					return
				}
				for i, tk := range ticks {
					if tk.Seq != after+1+uint64(i) {
						errs <- "non-contiguous ticks"
						return
					}
				}
				if len(ticks) > 0 {
					since = ticks[len(ticks)-1].Seq
					continue
				}
				<-changed
			}
		})
	}
	for s := uint64(1); s <= n; s++ {
		h.Append(tick(s))
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

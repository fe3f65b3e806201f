package shared_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"commlab/shared"
)

type trackerCounts struct{ Messages, Gaps, Dups, Resets, Last uint64 }

func countsOf(tr *shared.Tracker, s *shared.ClientStats) trackerCounts {
	return trackerCounts{Messages: s.Messages.Load(), Gaps: s.Gaps.Load(), Dups: s.Dups.Load(), Resets: s.Resets.Load(), Last: tr.Last}
}

func TestTracker(t *testing.T) {
	// Each step is a seq to Accept, or a reset to next when reset is true.
	type step struct {
		seq    uint64
		reset  bool
		accept bool // want from Accept
	}
	tests := []struct {
		name  string
		since uint64
		steps []step
		want  trackerCounts
	}{
		{"contiguous from 0", 0, []step{{seq: 1, accept: true}, {seq: 2, accept: true}, {seq: 3, accept: true}},
			trackerCounts{Messages: 3, Last: 3}},
		{"first tick after 0 is never a gap", 0, []step{{seq: 50, accept: true}, {seq: 51, accept: true}},
			trackerCounts{Messages: 2, Last: 51}},
		{"resume after since", 10, []step{{seq: 11, accept: true}, {seq: 12, accept: true}},
			trackerCounts{Messages: 2, Last: 12}},
		{"gap", 10, []step{{seq: 11, accept: true}, {seq: 15, accept: true}},
			trackerCounts{Messages: 2, Gaps: 3, Last: 15}},
		{"gap right after since", 10, []step{{seq: 13, accept: true}},
			trackerCounts{Messages: 1, Gaps: 2, Last: 13}},
		{"duplicate", 0, []step{{seq: 1, accept: true}, {seq: 2, accept: true}, {seq: 2}, {seq: 1}, {seq: 3, accept: true}},
			trackerCounts{Messages: 3, Dups: 2, Last: 3}},
		{"replay of since is a duplicate", 10, []step{{seq: 10}, {seq: 11, accept: true}},
			trackerCounts{Messages: 1, Dups: 1, Last: 11}},
		{"reset forward counts the lost seqs", 0, []step{{seq: 1, accept: true}, {seq: 2, accept: true}, {seq: 10, reset: true}, {seq: 11, accept: true}},
			trackerCounts{Messages: 3, Gaps: 8, Resets: 1, Last: 11}},
		{"reset to last loses nothing", 0, []step{{seq: 1, accept: true}, {seq: 1, reset: true}, {seq: 2, accept: true}},
			trackerCounts{Messages: 2, Resets: 1, Last: 2}},
		{"reset backward (feed restarted) starts afresh", 0, []step{{seq: 100, accept: true}, {seq: 0, reset: true}, {seq: 1, accept: true}, {seq: 2, accept: true}},
			trackerCounts{Messages: 3, Resets: 1, Last: 2}},
		{"reset before any tick", 0, []step{{seq: 40, reset: true}, {seq: 41, accept: true}},
			trackerCounts{Messages: 1, Resets: 1, Last: 41}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stats shared.ClientStats
			tr := shared.NewTracker(tt.since, &stats)
			for i, st := range tt.steps {
				if st.reset {
					tr.Reset(st.seq)
					continue
				}
				if got := tr.Accept(st.seq); got != st.accept {
					t.Fatalf("step %d: Accept(%d) = %v, want %v", i, st.seq, got, st.accept)
				}
			}
			if got := countsOf(tr, &stats); got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestTrackerNilStats(t *testing.T) {
	tr := shared.NewTracker(0, nil)
	tr.Accept(1)
	tr.Accept(1)
	tr.Accept(5)
	tr.Reset(9)
	if tr.Last != 9 {
		t.Errorf("Last = %d, want 9", tr.Last)
	}
}

func TestBackoffWithinBounds(t *testing.T) {
	b := shared.Backoff{Min: 10 * time.Millisecond, Max: 500 * time.Millisecond}
	for attempt := range 100 {
		ceiling := min(b.Min<<min(attempt, 30), b.Max)
		if d := b.Next(); d <= 0 || d > ceiling {
			t.Fatalf("attempt %d: Next = %v, want in (0, %v]", attempt, d, ceiling)
		}
	}
}

// maxOver returns the largest of n first Next values at the given attempt, each
// from a fresh Backoff: with full jitter one sample says little, many say a lot.
func maxOver(n, attempt int, lo, hi time.Duration) time.Duration {
	var top time.Duration
	for range n {
		b := shared.Backoff{Min: lo, Max: hi}
		for range attempt {
			b.Next()
		}
		top = max(top, b.Next())
	}
	return top
}

func TestBackoffGrowsAndCaps(t *testing.T) {
	const samples = 500 // P(all 500 below half the ceiling) = 2^-500
	minD, maxD := 10*time.Millisecond, 300*time.Millisecond
	tests := []struct {
		attempt int
		ceiling time.Duration
	}{
		{0, 10 * time.Millisecond},
		{1, 20 * time.Millisecond},
		{3, 80 * time.Millisecond},
		{5, 300 * time.Millisecond}, // 320ms capped at Max
		{40, 300 * time.Millisecond},
	}
	for _, tt := range tests {
		top := maxOver(samples, tt.attempt, minD, maxD)
		if top > tt.ceiling || top <= tt.ceiling/2 {
			t.Errorf("attempt %d: largest of %d = %v, want in (%v, %v]", tt.attempt, samples, top, tt.ceiling/2, tt.ceiling)
		}
	}
}

func TestBackoffReset(t *testing.T) {
	b := shared.Backoff{Min: time.Millisecond, Max: time.Hour}
	for range 20 {
		b.Next()
	}
	b.Reset()
	for range 50 {
		b.Reset()
		if d := b.Next(); d > time.Millisecond {
			t.Fatalf("first Next after Reset = %v, want at most Min %v", d, time.Millisecond)
		}
	}
}

func TestSleep(t *testing.T) {
	t.Run("elapses", func(t *testing.T) {
		if err := shared.Sleep(context.Background(), time.Millisecond); err != nil {
			t.Errorf("Sleep = %v, want nil", err)
		}
	})
	t.Run("canceled before", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := shared.Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
			t.Errorf("Sleep = %v, want context.Canceled", err)
		}
	})
	t.Run("canceled during", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() { errc <- shared.Sleep(ctx, time.Hour) }()
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Errorf("Sleep = %v, want context.Canceled", err)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
		defer cancel()
		if err := shared.Sleep(ctx, time.Hour); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Sleep = %v, want context.DeadlineExceeded", err)
		}
	})
}

package polling

import (
	"context"
	"slices"
	"testing"
	"time"

	"commlab/shared"
)

// publishPaced publishes n ticks, one every gap, as a steady feed would. The
// ticker paces the load; it synchronises nothing.
func publishPaced(t *testing.T, tl *testLab, n int, gap time.Duration) {
	t.Helper()
	tick := time.NewTicker(gap)
	defer tick.Stop()
	for range n {
		<-tick.C
		tl.Publish(t, 1)
	}
}

// latencyPoller runs Poll until it has delivered seq last, noting how old each
// tick was when fn got it (the feed stamps every tick with its time).
type latencyPoller struct {
	stats     *shared.ClientStats
	latencies []time.Duration // written by Poll's goroutine, read after done
	done      chan error      // Poll's result, once it has delivered seq last
	exited    chan struct{}   // closed when Poll has returned
}

func startLatencyPoller(t *testing.T, baseURL string, opts Options, last uint64) *latencyPoller {
	t.Helper()
	lp := &latencyPoller{stats: new(shared.ClientStats), done: make(chan error, 1), exited: make(chan struct{})}
	opts.Stats, opts.Log = lp.stats, testLogger(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() {
		cancel() // in case the test failed before the last tick
		<-lp.exited
	})
	go func() {
		defer close(lp.exited)
		lp.done <- Poll(ctx, baseURL, func(tick shared.Tick) {
			lp.latencies = append(lp.latencies, time.Since(time.UnixMicro(tick.TUs)))
			if tick.Seq >= last {
				cancel()
			}
		}, &opts)
	}()
	return lp
}

// wait waits until the poller has delivered the last tick and returned.
func (lp *latencyPoller) wait(t *testing.T) {
	t.Helper()
	select {
	case err := <-lp.done:
		if err != nil {
			t.Fatalf("Poll: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the poller did not get the last tick within 20s")
	}
}

func (lp *latencyPoller) median() time.Duration {
	s := slices.Clone(lp.latencies)
	slices.Sort(s)
	return s[len(s)/2]
}

// TestHalfIntervalDoublesRequests checks README "Try this" #3 and the Cost row:
// polling twice as often costs about twice the requests for the same ticks.
// Two short pollers, every 100 ms and every 50 ms, follow the same feed of 60
// ticks over 1.5 s; the ratio of their requests must be near 2 (1.4 to 3).
func TestHalfIntervalDoublesRequests(t *testing.T) {
	tl := startLab(t, nil)
	tl.Publish(t, 1)
	slow := startLatencyPoller(t, tl.srv.URL, Options{Interval: 100 * time.Millisecond, Since: 1}, 61)
	fast := startLatencyPoller(t, tl.srv.URL, Options{Interval: 50 * time.Millisecond, Since: 1}, 61)
	publishPaced(t, tl, 60, 25*time.Millisecond) // seqs 2 to 61
	slow.wait(t)
	fast.wait(t)

	for _, p := range []*latencyPoller{slow, fast} {
		if got := p.stats.Messages.Load(); got != 60 {
			t.Fatalf("got %d ticks, want all 60", got)
		}
	}
	slowReqs, fastReqs := slow.stats.Requests.Load(), fast.stats.Requests.Load()
	ratio := float64(fastReqs) / float64(slowReqs)
	t.Logf("60 ticks: every 100ms %d requests (p50 %v), every 50ms %d requests (p50 %v): ratio %.2f",
		slowReqs, slow.median().Round(time.Millisecond), fastReqs, fast.median().Round(time.Millisecond), ratio)
	if ratio < 1.4 || ratio > 3 {
		t.Errorf("got %d requests at 50ms and %d at 100ms, ratio %.2f; want about 2 (1.4 to 3)", fastReqs, slowReqs, ratio)
	}
}

// TestLongPollBeatsShortPollLatency checks the README's Cost row and "Run it":
// a long poll delivers a tick within about a round trip, a short poll every
// second up to a second late, half a second at the median. Both follow the same
// feed of 40 ticks over 2 s; the long poll's median must be under a fifth of the
// short poll's, which must be over 200 ms.
func TestLongPollBeatsShortPollLatency(t *testing.T) {
	tl := startLab(t, nil)
	tl.Publish(t, 1)
	short := startLatencyPoller(t, tl.srv.URL, Options{Interval: time.Second, Since: 1}, 41)
	long := startLatencyPoller(t, tl.srv.URL, Options{Wait: 10 * time.Second, Since: 1}, 41)
	publishPaced(t, tl, 40, 50*time.Millisecond) // seqs 2 to 41
	short.wait(t)
	long.wait(t)

	shortP50, longP50 := short.median(), long.median()
	t.Logf("40 ticks: short poll every 1s p50 %v in %d requests, long poll p50 %v in %d requests",
		shortP50.Round(time.Millisecond), short.stats.Requests.Load(), longP50.Round(100*time.Microsecond), long.stats.Requests.Load())
	if shortP50 < 200*time.Millisecond {
		t.Errorf("got short-poll p50 %v, want over 200ms: ticks wait for the next poll, up to 1s", shortP50)
	}
	if longP50*5 > shortP50 {
		t.Errorf("got long-poll p50 %v against short-poll p50 %v; want under a fifth of it", longP50, shortP50)
	}
}

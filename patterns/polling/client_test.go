package polling

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"commlab/shared"
	"commlab/shared/labtest"
)

// poller is a Poll loop running for one test.
type poller struct {
	ticks <-chan shared.Tick
	stats *shared.ClientStats
}

// startPoll runs Poll on its own goroutine until the test ends, then checks that
// it returned nil once its context was cancelled.
func startPoll(t *testing.T, baseURL string, opts Options) *poller {
	t.Helper()
	if opts.Stats == nil {
		opts.Stats = new(shared.ClientStats)
	}
	opts.Log = testLogger(t)
	ctx, cancel := context.WithCancel(context.Background())
	ticks := make(chan shared.Tick, 1000)
	done := make(chan error, 1)
	go func() {
		done <- Poll(ctx, baseURL, func(tick shared.Tick) {
			select {
			case ticks <- tick:
			case <-ctx.Done():
			}
		}, &opts)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("got Poll error %v after cancel, want nil", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Poll did not return within 10s of cancel")
		}
	})
	return &poller{ticks: ticks, stats: opts.Stats}
}

// expect checks that the next ticks fn got are exactly seqs from..to, each with
// the feed's own bytes.
func (p *poller) expect(t *testing.T, published []shared.Tick, from, to uint64) {
	t.Helper()
	for seq := from; seq <= to; seq++ {
		select {
		case got := <-p.ticks:
			if got.Seq != seq {
				t.Fatalf("got seq %d, want %d", got.Seq, seq)
			}
			if want := published[seq-1].Raw; !bytes.Equal(got.Raw, want) {
				t.Fatalf("got Raw %s for seq %d, want the feed's %s", got.Raw, seq, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no tick within 10s, want seq %d", seq)
		}
	}
}

// wantCounts checks the client's gap, dup and reset counters.
func (p *poller) wantCounts(t *testing.T, gaps, dups, resets uint64) {
	t.Helper()
	if g, d, r := p.stats.Gaps.Load(), p.stats.Dups.Load(), p.stats.Resets.Load(); g != gaps || d != dups || r != resets {
		t.Errorf("got gaps %d, dups %d, resets %d; want %d, %d, %d", g, d, r, gaps, dups, resets)
	}
}

var styles = []struct {
	name string
	opts Options
}{
	{"short", Options{Interval: 5 * time.Millisecond}},
	{"long", Options{Wait: 5 * time.Second}},
}

// TestPoll checks that a client resuming after a seq gets every later tick once,
// in order, with the feed's own bytes.
func TestPoll(t *testing.T) {
	for _, style := range styles {
		t.Run(style.name, func(t *testing.T) {
			tl := startLab(t, nil)
			all := tl.Publish(t, 5)
			opts := style.opts
			opts.Since = 2
			p := startPoll(t, tl.srv.URL, opts)
			p.expect(t, all, 3, 5)

			for range 3 {
				last := uint64(len(all))
				all = append(all, tl.Publish(t, 10)...)
				p.expect(t, all, last+1, last+10)
			}
			p.wantCounts(t, 0, 0, 0)
			if got := p.stats.Messages.Load(); got != 33 {
				t.Errorf("got %d messages, want 33", got)
			}
			if got := p.stats.Reconnects.Load(); got != 0 {
				t.Errorf("got %d reconnects, want 0", got)
			}
			if got := p.stats.Bytes.Load(); got == 0 {
				t.Error("got 0 bytes read, want the responses counted")
			}
		})
	}
}

// TestPollStartsFromNow checks where a client without Since starts: a short poll
// with the newest tick, a long poll with the first tick after it.
func TestPollStartsFromNow(t *testing.T) {
	t.Run("short", func(t *testing.T) {
		tl := startLab(t, nil)
		all := tl.Publish(t, 5)
		p := startPoll(t, tl.srv.URL, Options{Interval: 5 * time.Millisecond})
		p.expect(t, all, 5, 5)
		all = append(all, tl.Publish(t, 10)...)
		p.expect(t, all, 6, 15)
		p.wantCounts(t, 0, 0, 0)
	})
	t.Run("long", func(t *testing.T) {
		tl := startLab(t, nil)
		all := tl.Publish(t, 5)
		p := startPoll(t, tl.srv.URL, Options{Wait: 5 * time.Second})
		labtest.WaitFor(t, "the long poll to be in flight", func() bool { return tl.long.Clients.Load() == 1 })
		all = append(all, tl.Publish(t, 10)...)
		// The request may not have read the newest seq yet when the gauge rose, so
		// it may start one tick later; it never starts at the old tick 5.
		var first shared.Tick
		select {
		case first = <-p.ticks:
		case <-time.After(10 * time.Second):
			t.Fatal("no tick within 10s")
		}
		if first.Seq < 6 || first.Seq > 15 {
			t.Fatalf("got first seq %d, want one of the new ticks 6..15", first.Seq)
		}
		p.expect(t, all, first.Seq+1, 15)
		p.wantCounts(t, 0, 0, 0)
	})
}

// TestPollCatchesUp checks that a full page is followed at once by the next
// request: with an interval of an hour, only catching up can deliver 50 ticks.
func TestPollCatchesUp(t *testing.T) {
	tl := startLab(t, nil)
	all := tl.Publish(t, 55)
	p := startPoll(t, tl.srv.URL, Options{Interval: time.Hour, Limit: 10, Since: 5})
	p.expect(t, all, 6, 55)
	// Five full pages, then one more request that finds nothing and starts the wait.
	labtest.WaitFor(t, "the sixth request", func() bool { return p.stats.Requests.Load() == 6 })
	p.wantCounts(t, 0, 0, 0)
}

// TestPollResets checks both kinds of reset: a since older than the history
// (the missed ticks count as gaps) and a since ahead of the feed.
func TestPollResets(t *testing.T) {
	tests := []struct {
		name     string
		since    uint64
		from     uint64 // first seq delivered
		wantGaps uint64
	}{
		{"since older than history", 10, 51, 40}, // 11..50 are gone
		{"since ahead of the feed", 1000, 151, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tl := startLab(t, &labtest.Options{History: 100})
			all := tl.Publish(t, 150)
			p := startPoll(t, tl.srv.URL, Options{Interval: 5 * time.Millisecond, Since: tc.since})
			labtest.WaitFor(t, "the reset", func() bool { return p.stats.Resets.Load() == 1 })
			all = append(all, tl.Publish(t, 5)...)
			p.expect(t, all, tc.from, 155)
			p.wantCounts(t, tc.wantGaps, 0, 1)
		})
	}
}

// TestPollSurvivesDrops cuts the client's connections again and again. Poll must
// resume from its last seq with no gap and no duplicate.
//
// net/http quietly mends a single drop: it redials a kept-alive connection found
// closed, and retries a GET whose reused connection dies before the response. It
// does not retry a request on a fresh connection, so each round drops twice: once,
// and again as soon as the client is back on the server, on its new connection.
// A long poll is then always caught mid-request and must reconnect. A short poll's
// connection is mostly idle, so a drop only sometimes fails one of its requests.
func TestPollSurvivesDrops(t *testing.T) {
	for _, style := range styles {
		t.Run(style.name, func(t *testing.T) {
			tl := startLab(t, nil)
			all := tl.Publish(t, 5)
			serverRequests := func() uint64 { return tl.short.Requests.Load() + tl.long.Requests.Load() }

			stats := new(shared.ClientStats)
			var dropper labtest.Dropper
			client := dropper.Wrap(shared.NewHTTPClient(stats))
			t.Cleanup(client.CloseIdleConnections)
			opts := style.opts
			opts.Since, opts.HTTPClient, opts.Stats = 5, client, stats
			p := startPoll(t, tl.srv.URL, opts)

			wantReconnect := opts.Wait > 0
			for round := 0; round < 3 || (wantReconnect && stats.Reconnects.Load() == 0); round++ {
				if round == 50 {
					t.Fatalf("no reconnect counted after %d rounds of drops", round)
				}
				last := uint64(len(all))
				all = append(all, tl.Publish(t, 10)...)
				p.expect(t, all, last+1, last+10)

				before := serverRequests()
				dropper.DropAll()
				labtest.WaitFor(t, "the client to be back", func() bool { return serverRequests() > before })
				dropper.DropAll()
			}
			last := uint64(len(all))
			all = append(all, tl.Publish(t, 10)...)
			p.expect(t, all, last+1, last+10)
			p.wantCounts(t, 0, 0, 0)
			t.Logf("%d requests, %d reconnects", stats.Requests.Load(), stats.Reconnects.Load())
		})
	}
}

// TestPollRetriesServerErrors puts a real failing front in front of the handler:
// its first two answers are a 503 and a 404 (a proxy during a deploy). Poll backs
// off, retries, and counts one reconnect.
func TestPollRetriesServerErrors(t *testing.T) {
	var failures atomic.Int32
	failures.Store(2)
	tl := startLabWith(t, nil, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch failures.Add(-1) {
			case 1:
				shared.WriteError(w, http.StatusServiceUnavailable, "try again later")
			case 0:
				http.NotFound(w, r)
			default:
				h.ServeHTTP(w, r)
			}
		})
	})
	all := tl.Publish(t, 5)
	p := startPoll(t, tl.srv.URL, Options{Interval: 5 * time.Millisecond, Since: 2})
	p.expect(t, all, 3, 5)
	p.wantCounts(t, 0, 0, 0)
	if got := p.stats.Reconnects.Load(); got != 1 {
		t.Errorf("got %d reconnects, want 1", got)
	}
	if got := p.stats.Requests.Load(); got < 3 {
		t.Errorf("got %d requests, want at least 3 (two failed, one good)", got)
	}
}

// TestPollRejected checks that Poll gives up, with the server's reason, when the
// server refuses the request itself: asking again cannot help.
func TestPollRejected(t *testing.T) {
	tl := startLab(t, nil)
	tl.Publish(t, 5)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stats := new(shared.ClientStats)

	err := Poll(ctx, tl.srv.URL, func(shared.Tick) {}, &Options{Limit: MaxLimit + 1, Stats: stats, Log: testLogger(t)})
	if ctx.Err() != nil {
		t.Fatal("Poll kept retrying a rejected request until the test's deadline")
	}
	if !errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), "limit") {
		t.Errorf("got error %v, want ErrRejected naming limit", err)
	}
	if got := stats.Requests.Load(); got != 1 {
		t.Errorf("got %d requests, want 1", got)
	}
}

// TestPollBadBaseURL checks that a base URL that can never work fails at once.
func TestPollBadBaseURL(t *testing.T) {
	for _, base := range []string{"localhost:8080", "ftp://example.com", "http://[::1"} {
		if err := Poll(context.Background(), base, func(shared.Tick) {}, nil); err == nil {
			t.Errorf("got nil error for base URL %q, want one", base)
		}
	}
}

// TestPollSurvivesRestart is README "Try this" #4: the lab stops under a long
// polling client, its port refuses connections for a while, and a new lab,
// whose feed starts again at seq 1, comes back on the same address. The client
// asks again until it answers, counts one reconnect, takes the reset (its since
// is ahead of the new feed) and goes on after the new lab's newest tick.
func TestPollSurvivesRestart(t *testing.T) {
	first := startLab(t, nil)
	all := first.Publish(t, 20)
	p := startPoll(t, first.srv.URL, Options{Wait: 5 * time.Second, Since: 10})
	p.expect(t, all, 11, 20)
	labtest.WaitFor(t, "the long poll to be held", func() bool { return first.long.Clients.Load() == 1 })

	addr := first.srv.Listener.Addr().String()
	first.shutdown() // ends the held poll, as Ctrl-C does
	first.srv.Close()
	after := p.stats.Requests.Load()
	labtest.WaitFor(t, "a request to the stopped lab", func() bool { return p.stats.Requests.Load() > after })

	second := labtest.Start(t, nil)
	all = second.Publish(t, 5) // seqs 1 to 5: far behind the client's since=20
	labtest.ServeAt(t, addr, Handler(second.Gateway, second.Metrics.Pattern("poll"), second.Metrics.Pattern("longpoll"), testLogger(t)))
	labtest.WaitFor(t, "the reset", func() bool { return p.stats.Resets.Load() == 1 })
	all = append(all, second.Publish(t, 5)...)
	p.expect(t, all, 6, 10)
	p.wantCounts(t, 0, 0, 1)
	if got := p.stats.Reconnects.Load(); got != 1 {
		t.Errorf("got %d reconnects, want 1", got)
	}
}

package main

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"commlab/patterns/polling"
	"commlab/patterns/sse"
	"commlab/patterns/websocket"
	"commlab/shared"
)

// TestPatternsDeliverTheSameBytes is the lab's central promise: one feed, and
// every pattern hands its clients the same ticks, byte for byte, with no gap and
// no duplicate.
func TestPatternsDeliverTheSameBytes(t *testing.T) {
	url, _ := startRun(t, "--rate", "200")
	const want = 300 // ticks each client must collect
	// Every client resumes after seq 1; a long poll returns once seq 1 exists.
	if code, _, body := get(t, url+"/api/poll?since=0&wait=10s"); code != 200 || !bytes.Contains(body, []byte(`"seq":1,`)) {
		t.Fatalf("the feed did not start: %d %s", code, body)
	}

	clients := map[string]func(ctx context.Context, fn func(shared.Tick), st *shared.ClientStats) error{
		"poll": func(ctx context.Context, fn func(shared.Tick), st *shared.ClientStats) error {
			return polling.Poll(ctx, url, fn, &polling.Options{Interval: 100 * time.Millisecond, Since: 1, Stats: st})
		},
		"longpoll": func(ctx context.Context, fn func(shared.Tick), st *shared.ClientStats) error {
			return polling.Poll(ctx, url, fn, &polling.Options{Wait: 5 * time.Second, Since: 1, Stats: st})
		},
		"sse": func(ctx context.Context, fn func(shared.Tick), st *shared.ClientStats) error {
			return sse.Subscribe(ctx, url, fn, &sse.ClientOptions{Since: 1, Stats: st})
		},
		"ws": func(ctx context.Context, fn func(shared.Tick), st *shared.ClientStats) error {
			return websocket.Subscribe(ctx, url, fn, &websocket.ClientOptions{Since: 1, Stats: st})
		},
	}

	var mu sync.Mutex
	got := make(map[string][]shared.Tick)
	stats := make(map[string]*shared.ClientStats)
	g, ctx := errgroup.WithContext(context.Background())
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for name, subscribe := range clients {
		st := new(shared.ClientStats)
		stats[name] = st
		g.Go(func() error {
			ctx, done := context.WithCancel(ctx)
			defer done()
			err := subscribe(ctx, func(tk shared.Tick) {
				mu.Lock()
				defer mu.Unlock()
				if len(got[name]) < want {
					got[name] = append(got[name], tk)
				}
				if len(got[name]) == want {
					done() // this client has enough; the others go on
				}
			}, st)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}

	ref := got["sse"]
	for name, ticks := range got {
		if len(ticks) != want {
			t.Fatalf("%s: got %d ticks before the deadline, want %d", name, len(ticks), want)
		}
		for i, tk := range ticks {
			if tk.Seq != uint64(i+2) { // Since: 1, so the run starts at seq 2
				t.Fatalf("%s: tick %d has seq %d, want %d (gap or duplicate)", name, i, tk.Seq, i+2)
			}
			if !bytes.Equal(tk.Raw, ref[i].Raw) {
				t.Fatalf("seq %d: %s delivered %s, sse delivered %s", tk.Seq, name, tk.Raw, ref[i].Raw)
			}
		}
		if st := stats[name]; st.Gaps.Load() != 0 || st.Dups.Load() != 0 {
			t.Errorf("%s: gaps %d dups %d, want 0 0", name, st.Gaps.Load(), st.Dups.Load())
		}
	}
}

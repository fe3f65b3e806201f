package sse

import (
	"context"
	"errors"
	"log/slog"
	"runtime"
	"testing"
	"time"

	"commlab/shared"
	"commlab/shared/labtest"
)

func TestTickEventIsBuiltOnceAndShared(t *testing.T) {
	var cache eventCache
	walk := shared.NewWalk(labtest.Seed, shared.DefaultSymbols, 7)
	tick := walk.Next(time.Now())
	ev := cache.tick(&tick)
	if string(ev.ID) != "7" || string(ev.Event) != "tick" || string(ev.Data) != string(tick.Raw) {
		t.Fatalf("got id %s event %s data %s, want id 7, event tick, the tick's bytes", ev.ID, ev.Event, ev.Data)
	}
	if again := cache.tick(&tick); again != ev {
		t.Error("the second client got another event, want the same one")
	}
	// After a feed restart, seq 7 is another tick: it must get its own event.
	restarted := shared.NewWalk(labtest.Seed+1, shared.DefaultSymbols, 7).Next(time.Now())
	if other := cache.tick(&restarted); other == ev || string(other.Data) != string(restarted.Raw) {
		t.Errorf("got data %s for the restarted feed's seq 7, want %s", other.Data, restarted.Raw)
	}
}

// When the hub cuts a stream off because it fell behind, the ticks the hub
// discarded are counted as drops.
func TestHubCutCountsDrops(t *testing.T) {
	lab := labtest.Start(t, nil)
	stats := lab.Metrics.Pattern("sse")
	s := Handler(lab.Gateway, stats, lab.Log, nil).(*server)
	sub := lab.Gateway.Hub.Subscribe(2)
	defer sub.Close()
	lab.Publish(t, 5) // nobody reads sub: the third tick cuts it off

	err := s.hubCut(context.Background(), nil, sub)
	if !errors.Is(err, errSlowClient) {
		t.Errorf("got %v, want an error wrapping errSlowClient", err)
	}
	if got, want := stats.Drops.Load(), uint64(sub.Dropped()); got != want || got == 0 {
		t.Errorf("got %d drops, want %d (what the hub discarded)", got, want)
	}
}

// benchStream is a server and one client's r3labs stream with no subscriber:
// r3labs' stream goroutine takes each event and writes it nowhere, so what is
// measured is the story's side alone.
func benchStream(b testing.TB) (*server, *conn) {
	b.Helper()
	log := slog.New(slog.DiscardHandler)
	s := Handler(shared.NewGateway(16, log), shared.NewMetrics().Pattern("sse"), log, nil).(*server)
	out := &conn{r3: s.r3, id: "bench"}
	s.r3.CreateStream(out.id)
	b.Cleanup(func() { s.r3.RemoveStream(out.id) })
	return s, out
}

func benchTicks(n int) []*shared.Tick {
	walk := shared.NewWalk(labtest.Seed, shared.DefaultSymbols, 1)
	ticks := make([]*shared.Tick, n)
	for i := range ticks {
		t := walk.Next(time.Now())
		ticks[i] = &t
	}
	return ticks
}

// BenchmarkLiveTick measures what live does for each client and each tick: find
// the tick's event, hand it to r3labs, count it.
//
//   - shared: another client already built the tick's event, the steady state
//     of every client but the first: no allocation.
//   - first: this client is the first to send the tick and builds its event,
//     one allocation per tick for the whole server.
func BenchmarkLiveTick(b *testing.B) {
	run := func(b *testing.B, ticks []*shared.Tick, warm bool) {
		s, out := benchStream(b)
		if warm {
			for _, t := range ticks {
				s.events.tick(t)
			}
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			t := ticks[i%len(ticks)]
			i++
			// The calls live makes per tick.
			for !out.send(s.events.tick(t)) {
				runtime.Gosched() // the queue is full: let r3labs' goroutine take events off
			}
			s.sent(t)
		}
	}
	b.Run("shared", func(b *testing.B) { run(b, benchTicks(eventCacheSize/2), true) })
	// Four times the cache: every tick's slot holds an older tick.
	b.Run("first", func(b *testing.B) { run(b, benchTicks(4*eventCacheSize), false) })
}

// The steady state of a live stream allocates nothing per client and tick.
func TestLiveTickSharedEventDoesNotAllocate(t *testing.T) {
	s, out := benchStream(t)
	ticks := benchTicks(64)
	for _, tick := range ticks {
		s.events.tick(tick)
	}
	i := 0
	allocs := testing.AllocsPerRun(1000, func() {
		tick := ticks[i%len(ticks)]
		i++
		for !out.send(s.events.tick(tick)) {
			runtime.Gosched()
		}
		s.sent(tick)
	})
	if allocs != 0 {
		t.Errorf("got %v allocations per client and tick, want 0", allocs)
	}
}

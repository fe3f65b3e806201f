package shared_test

import (
	"strconv"
	"sync"
	"testing"

	"commlab/shared"
)

func BenchmarkEncodeTick(b *testing.B) {
	b.ReportAllocs()
	tk := shared.Tick{Seq: 1042, Symbol: "ACME", Price: 101.37, TUs: 1764122400123456}
	buf := make([]byte, 0, 128)
	for b.Loop() {
		tk.Seq++
		buf = shared.AppendJSON(buf[:0], tk)
	}
}

func BenchmarkParseTick(b *testing.B) {
	b.ReportAllocs()
	raw := []byte(`{"seq":1042,"symbol":"ACME","price":101.37,"t_us":1764122400123456}`)
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if _, err := shared.ParseTick(raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHubPublish measures one Publish to n subscribers whose queues reader
// goroutines drain. The point: Publish allocates nothing, however many clients.
//
// The readers drain in rounds, as a writer loop busy on the network would: the
// benchmark publishes a round of queueLen ticks, the last one a marker, then opens
// that round's gate; each reader empties its queue up to the marker and reports
// back. No queue ever holds more than queueLen, so no reader is ever cut off, and
// readers are woken once per round rather than once per tick. The rounds are part
// of the measured time: ns/op is the cost of delivering one tick to n subscribers.
func BenchmarkHubPublish(b *testing.B) {
	for _, n := range []int{1, 100, 1000, 10_000} {
		b.Run("subs="+strconv.Itoa(n), func(b *testing.B) {
			if raceEnabled && n > 1000 {
				b.Skip("the race detector allows at most 8128 live goroutines")
			}
			const queueLen = 64
			h := shared.NewHub()
			tk, marker, stop := tick(1), tick(2), tick(3)
			// One gate per round, made before timing so the loop allocates nothing.
			gates := make([]chan struct{}, b.N/queueLen+2)
			for i := range gates {
				gates[i] = make(chan struct{})
			}
			var caughtUp, readers sync.WaitGroup
			subs := make([]*shared.Subscription, n)
			for i := range subs {
				s := h.Subscribe(queueLen)
				subs[i] = s
				readers.Go(func() {
					for _, gate := range gates {
						<-gate
						for t := range s.C {
							if t == stop {
								return
							}
							if t == marker {
								caughtUp.Done()
								break
							}
						}
					}
				})
			}

			b.ReportAllocs()
			b.ResetTimer()
			round := 0
			for i := 1; i <= b.N; i++ {
				if i%queueLen != 0 {
					h.Publish(tk)
					continue
				}
				caughtUp.Add(n)
				h.Publish(marker)
				close(gates[round])
				round++
				caughtUp.Wait()
			}
			b.StopTimer()

			for i, s := range subs {
				select {
				case <-s.Done():
					b.Fatalf("subscriber %d was cut off: %v", i, s.Err())
				default:
				}
			}
			h.Publish(stop) // at most queueLen-1 ticks since the last marker: room for it
			close(gates[round])
			readers.Wait()
			h.CutAll(shared.ErrFeedRestarted)
		})
	}
}

func BenchmarkHistorySince(b *testing.B) {
	const size = 10_000
	h := shared.NewHistory(size)
	for s := uint64(1); s <= 3*size; s++ { // wrapped around, as in a long run
		h.Append(tick(s))
	}
	last := h.Last()
	for _, n := range []int{1, 100} {
		b.Run("ticks="+strconv.Itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			dst := make([]*shared.Tick, 0, n)
			since := last - uint64(n)
			for b.Loop() {
				ticks, _, reset := h.Since(since, n, dst[:0])
				if len(ticks) != n || reset {
					b.Fatalf("Since(%d) = %d ticks, reset %v; want %d, false", since, len(ticks), reset, n)
				}
			}
		})
	}
}

func BenchmarkHistoryAppend(b *testing.B) {
	b.ReportAllocs()
	const size = 10_000
	h := shared.NewHistory(size)
	// Twice the history's size: a slot is rewritten only once the history no
	// longer holds the tick in it.
	ticks := make([]shared.Tick, 2*size)
	var seq uint64
	for b.Loop() {
		seq++
		t := &ticks[seq%uint64(len(ticks))]
		t.Seq = seq
		h.Append(t)
	}
}

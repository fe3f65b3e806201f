package shared

import (
	"sync"
	"testing"
	"time"
)

// add and flush take turns with two slices: the batch being sent must never
// be the one ticks are added to, even after a flush that found nothing (at a
// feed restart or Close), or ticks would be sent twice, lost, or nil.
func TestLingerHubSendsEveryTickOnceInOrder(t *testing.T) {
	const n = 50_000
	hub := NewHub()
	sub := hub.Subscribe(n)
	defer sub.Close()
	l := newLingerHub(hub, time.Hour) // its timer never fires here: the test flushes
	defer l.stop()
	stop := make(chan struct{})
	var flusher sync.WaitGroup
	flusher.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				l.flush()
			}
		}
	})
	for seq := uint64(1); seq <= n; seq++ {
		l.add(&Tick{Seq: seq})
	}
	close(stop)
	flusher.Wait()
	l.flush()

	for want := uint64(1); want <= n; want++ {
		select {
		case tk := <-sub.C:
			if tk == nil || tk.Seq != want {
				t.Fatalf("got %v, want seq %d", tk, want)
			}
		default:
			t.Fatalf("got %d ticks, want %d", want-1, n)
		}
	}
	if extra := len(sub.C); extra != 0 {
		t.Errorf("%d ticks more than sent", extra)
	}
}

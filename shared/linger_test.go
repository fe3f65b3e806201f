package shared_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"commlab/shared"
)

// startLingerLab is a broker, a feed and a gateway that holds live ticks for
// linger before fanning them out.
func startLingerLab(t *testing.T, linger time.Duration) *feedLab {
	t.Helper()
	b := startBroker(t)
	feedNC := connect(t, b, "test-feed")
	feed, err := shared.NewFeed(feedNC, 42, shared.DefaultSymbols, 0)
	if err != nil {
		t.Fatal(err)
	}
	gw := shared.NewGateway(100, discardLog())
	gw.Linger = linger
	if err := gw.Start(connect(t, b, "test-gateway")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gw.Close)
	return &feedLab{broker: b, feedNC: feedNC, feed: feed, gateway: gw}
}

// With Linger, the history has each tick at once, and the hub fans them out
// no sooner than Linger later, in order, each subscriber's all together.
func TestGatewayLingerHoldsTicksThenFansOutTogether(t *testing.T) {
	const linger = 300 * time.Millisecond
	l := startLingerLab(t, linger)
	sub := l.gateway.Hub.Subscribe(100)
	defer sub.Close()

	start := time.Now()
	sent := l.publish(t, 5)
	waitSeq(t, l.gateway, 5)
	n := len(sub.C) // first: the timer may fire any moment from start+linger on
	if held := time.Since(start); held < linger {
		// Every tick was added, and n read, before the first one's linger
		// ran out: they are one batch, and none had been fanned out.
		if n != 0 {
			t.Fatalf("%d ticks fanned out %v after the first was published, want none before %v", n, held, linger)
		}
	} else {
		t.Logf("publishing took %v, longer than the linger: not checking that the batch is still held", held)
	}

	var got []uint64
	for len(got) < len(sent) {
		select {
		case tk := <-sub.C:
			if len(got) == 0 {
				if waited := time.Since(start); waited < linger {
					t.Errorf("the first tick was fanned out after %v, want at least the linger, %v", waited, linger)
				}
			}
			got = append(got, tk.Seq)
		case <-sub.Done():
			t.Fatalf("subscriber cut off: %v", sub.Err())
		case <-time.After(10 * time.Second):
			t.Fatalf("got %v, want seqs 1-5", got)
		}
	}
	if !slices.Equal(got, seqRange(1, 5)) {
		t.Errorf("got seqs %v, want 1-5 in order", got)
	}
}

// Whatever cuts the subscribers, the ticks the gateway still holds go out
// first. At a feed restart a client that missed them could not get them back:
// the history forgets the old epoch.
func TestGatewayLingerFlushesBeforeACut(t *testing.T) {
	restartFeed := func(t *testing.T, l *feedLab) {
		restarted, err := shared.NewFeed(l.feedNC, 42, shared.DefaultSymbols, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := restarted.Publish(); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		name string
		cut  func(t *testing.T, l *feedLab)
		want error
	}{
		{"feed restart", restartFeed, shared.ErrFeedRestarted},
		{"gateway closed", func(t *testing.T, l *feedLab) { l.gateway.Close() }, shared.ErrGatewayClosed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l := startLingerLab(t, time.Second)
			sub := l.gateway.Hub.Subscribe(100)
			defer sub.Close()
			l.publish(t, 3)
			waitSeq(t, l.gateway, 3)

			tt.cut(t, l)
			select {
			case <-sub.Done():
			case <-time.After(10 * time.Second):
				t.Fatal("subscriber not cut off")
			}
			if err := sub.Err(); !errors.Is(err, tt.want) {
				t.Errorf("Err = %v, want %v", err, tt.want)
			}
			if got := drained(sub); !slices.Equal(got, seqRange(1, 3)) {
				t.Errorf("cut subscriber got %v, want the ticks held before the cut, [1 2 3]", got)
			}
		})
	}
}

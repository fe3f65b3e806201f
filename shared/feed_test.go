package shared_test

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"commlab/shared"
)

// feedLab is a real embedded NATS server with a feed (not running on its clock)
// and a gateway following it, each on its own connection.
type feedLab struct {
	broker  *shared.Broker
	feedNC  *nats.Conn
	feed    *shared.Feed
	gateway *shared.Gateway
}

func startFeedLab(t *testing.T, history int) *feedLab {
	t.Helper()
	b := startBroker(t)
	feedNC := connect(t, b, "test-feed")
	feed, err := shared.NewFeed(feedNC, 42, shared.DefaultSymbols, 0)
	if err != nil {
		t.Fatalf("NewFeed: %v", err)
	}
	return &feedLab{broker: b, feedNC: feedNC, feed: feed, gateway: startGateway(t, b, history)}
}

func startGateway(t *testing.T, b *shared.Broker, history int) *shared.Gateway {
	t.Helper()
	gw := shared.NewGateway(history, discardLog())
	if err := gw.Start(connect(t, b, "test-gateway")); err != nil {
		t.Fatalf("gateway Start: %v", err)
	}
	t.Cleanup(gw.Close)
	return gw
}

func (l *feedLab) publish(t *testing.T, n int) []shared.Tick {
	t.Helper()
	var out []shared.Tick
	for range n {
		tk, err := l.feed.Publish()
		if err != nil {
			t.Fatalf("feed Publish: %v", err)
		}
		out = append(out, tk)
	}
	return out
}

func waitSeq(t *testing.T, gw *shared.Gateway, seq uint64) {
	t.Helper()
	waitGateway(t, gw.History, "seq "+strconv.FormatUint(seq, 10), func() bool { return gw.History.Last() >= seq })
}

func TestFeedPublishReachesGateway(t *testing.T) {
	const n = 50
	l := startFeedLab(t, 1000)
	sent := l.publish(t, n)
	waitSeq(t, l.gateway, n)

	held, after, reset := l.gateway.History.Since(0, 1000, nil)
	if !slices.Equal(seqs(held), seqRange(1, n)) || after != 0 || reset {
		t.Fatalf("gateway Since(0) = %v, %d, %v; want 1..%d, 0, false", seqs(held), after, reset, n)
	}
	for i, tk := range held {
		if string(tk.Raw) != string(sent[i].Raw) {
			t.Errorf("seq %d: gateway Raw %s, want the feed's bytes %s", tk.Seq, tk.Raw, sent[i].Raw)
		}
	}
	if got := l.feed.LastSeq(); got != n {
		t.Errorf("feed LastSeq = %d, want %d", got, n)
	}
	if got, want := l.gateway.Epoch(), l.feed.Epoch(); got != want || want == "" {
		t.Errorf("gateway Epoch = %q, want the feed's %q (non-empty)", got, want)
	}
	if got := l.gateway.Invalid(); got != 0 {
		t.Errorf("gateway Invalid = %d, want 0", got)
	}
}

func TestFeedPublishesOnSymbolSubjectWithEpoch(t *testing.T) {
	l := startFeedLab(t, 10)
	sub, err := l.feedNC.SubscribeSync("ticks.>")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := l.feedNC.Flush(); err != nil { // the subscription is live on the server
		t.Fatal(err)
	}
	for _, tk := range l.publish(t, 20) {
		m, err := sub.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatalf("seq %d: %v", tk.Seq, err)
		}
		if want := shared.TickSubject(tk.Symbol); m.Subject != want {
			t.Errorf("seq %d: subject %q, want %q", tk.Seq, m.Subject, want)
		}
		if string(m.Data) != string(tk.Raw) {
			t.Errorf("seq %d: data %s, want %s", tk.Seq, m.Data, tk.Raw)
		}
		if got := m.Header.Get(shared.EpochHeader); got != l.feed.Epoch() {
			t.Errorf("seq %d: epoch header %q, want %q", tk.Seq, got, l.feed.Epoch())
		}
	}
}

func TestTickSubject(t *testing.T) {
	if got, want := shared.TickSubject("ACME"), "ticks.ACME"; got != want {
		t.Errorf("TickSubject(ACME) = %q, want %q", got, want)
	}
}

// runFeed runs the feed's clock until the test ends or stop is called, and
// fails the test if Run returns an error.
func runFeed(t *testing.T, f *shared.Feed) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- f.Run(ctx) }()
	var err error
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err = <-errc; err != nil {
			t.Errorf("feed Run = %v, want nil after cancel", err)
		}
	}
	t.Cleanup(stop)
	return stop
}

func TestFeedRunPublishesContiguousSeqs(t *testing.T) {
	l := startFeedLab(t, 10_000)
	if err := l.feed.SetRate(500); err != nil {
		t.Fatal(err)
	}
	stop := runFeed(t, l.feed)
	waitSeq(t, l.gateway, 25)
	stop()
	last := l.feed.LastSeq()
	waitSeq(t, l.gateway, last)

	held, _, reset := l.gateway.History.Since(0, 100_000, nil)
	if reset || !slices.Equal(seqs(held), seqRange(1, last)) {
		t.Fatalf("gateway holds %v (reset %v), want 1..%d", seqs(held), reset, last)
	}
	for _, tk := range held {
		if _, err := shared.ParseTick(tk.Raw); err != nil {
			t.Errorf("seq %d: %v", tk.Seq, err)
		}
	}
}

func TestFeedSetRateZeroPauses(t *testing.T) {
	l := startFeedLab(t, 10_000)
	if err := l.feed.SetRate(1000); err != nil {
		t.Fatal(err)
	}
	runFeed(t, l.feed)
	waitSeq(t, l.gateway, 10)

	if err := l.feed.SetRate(0); err != nil {
		t.Fatal(err)
	}
	if got := l.feed.Rate(); got != 0 {
		t.Fatalf("Rate = %d, want 0", got)
	}
	// Run may be past its select with one tick due; after that, nothing.
	paused := l.feed.LastSeq() + 1

	// No signal exists for "nothing happened": watch the gateway for a while (at
	// 1000/s, 200 ms would be ~200 ticks) and fail on any tick past paused.
	watch := time.After(200 * time.Millisecond)
	for watching := true; watching; {
		changed := l.gateway.History.Changed()
		select {
		case <-changed:
		case <-watch:
			watching = false
		}
		if got := l.gateway.History.Last(); got > paused {
			t.Fatalf("paused feed published seq %d, want at most %d", got, paused)
		}
	}

	// And it resumes.
	if err := l.feed.SetRate(1000); err != nil {
		t.Fatal(err)
	}
	waitSeq(t, l.gateway, paused+5)
}

func TestFeedSetRate(t *testing.T) {
	tests := []struct {
		rate    int
		wantErr bool
	}{
		{0, false}, {1, false}, {20, false}, {shared.MaxRate, false},
		{-1, true}, {shared.MaxRate + 1, true}, {1 << 40, true},
	}
	f, err := shared.NewFeed(nil, 1, shared.DefaultSymbols, 20)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		err := f.SetRate(tt.rate)
		if (err != nil) != tt.wantErr {
			t.Errorf("SetRate(%d) = %v, want error %v", tt.rate, err, tt.wantErr)
		}
		if err == nil && f.Rate() != tt.rate {
			t.Errorf("after SetRate(%d): Rate = %d", tt.rate, f.Rate())
		}
	}
	if err := f.SetRate(20); err != nil {
		t.Fatal(err)
	}
	if err := f.SetRate(-5); err == nil {
		t.Fatal("SetRate(-5) = nil, want an error")
	}
	if got := f.Rate(); got != 20 {
		t.Errorf("a rejected SetRate changed Rate to %d, want it kept at 20", got)
	}
}

func TestNewFeed(t *testing.T) {
	tests := []struct {
		name    string
		symbols []string
		rate    int
		wantErr bool
	}{
		{"defaults", shared.DefaultSymbols, 20, false},
		{"one symbol, paused", []string{"ACME"}, 0, false},
		{"lower-case symbol", []string{"ACME", "globx"}, 20, true},
		{"empty symbol", []string{""}, 20, true},
		{"symbol too long", []string{"ABCDEFGHI"}, 20, true},
		{"negative rate", shared.DefaultSymbols, -1, true},
		{"rate over max", shared.DefaultSymbols, shared.MaxRate + 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := shared.NewFeed(nil, 1, tt.symbols, tt.rate)
			if (err != nil) != tt.wantErr {
				t.Fatalf("NewFeed(%v, %d) error = %v, want error %v", tt.symbols, tt.rate, err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if f.Rate() != tt.rate || !slices.Equal(f.Symbols(), tt.symbols) || f.Epoch() == "" || f.LastSeq() != 0 {
				t.Errorf("NewFeed: rate %d, symbols %v, epoch %q, last %d; want %d, %v, non-empty, 0",
					f.Rate(), f.Symbols(), f.Epoch(), f.LastSeq(), tt.rate, tt.symbols)
			}
		})
	}
}

func TestFeedEpochsDiffer(t *testing.T) {
	a, err := shared.NewFeed(nil, 1, shared.DefaultSymbols, 0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := shared.NewFeed(nil, 1, shared.DefaultSymbols, 0)
	if err != nil {
		t.Fatal(err)
	}
	if a.Epoch() == b.Epoch() {
		t.Errorf("two feeds share epoch %q, want a new epoch per feed", a.Epoch())
	}
}

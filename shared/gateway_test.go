package shared_test

import (
	"errors"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"commlab/shared"
)

func TestGatewayHubDeliversWhatHistoryHolds(t *testing.T) {
	const n = 30
	l := startFeedLab(t, 100)
	sub := l.gateway.Hub.Subscribe(n)
	defer sub.Close()
	sent := l.publish(t, n)
	for i := range n {
		select {
		case tk := <-sub.C:
			if tk.Seq != sent[i].Seq || string(tk.Raw) != string(sent[i].Raw) {
				t.Fatalf("hub tick %d = seq %d %s, want seq %d %s", i, tk.Seq, tk.Raw, sent[i].Seq, sent[i].Raw)
			}
		case <-sub.Done():
			t.Fatalf("hub cut the subscriber after %d ticks: %v", i, sub.Err())
		case <-time.After(10 * time.Second):
			t.Fatalf("hub delivered %d of %d ticks", i, n)
		}
	}
	if newest := l.gateway.History.Newest(); newest == nil || newest.Seq != n {
		t.Errorf("History.Newest = %v, want seq %d", newest, n)
	}
}

func TestGatewayDropsInvalidMessages(t *testing.T) {
	l := startFeedLab(t, 100)
	sub := l.gateway.Hub.Subscribe(10)
	defer sub.Close()
	bad := []struct {
		name, subject, data string
	}{
		{"not JSON", "ticks.ACME", "not json"},
		{"control message", "ticks.ACME", `{"op":"reset","epoch":"x","next":3}`},
		{"seq 0", "ticks.ACME", `{"seq":0,"symbol":"ACME","price":1,"t_us":1}`},
		{"bad symbol", "ticks.acme", `{"seq":1,"symbol":"acme","price":1,"t_us":1}`},
		{"negative price", "ticks.ACME", `{"seq":1,"symbol":"ACME","price":-1,"t_us":1}`},
		{"empty", "ticks.ACME", ""},
	}
	// The feed's own connection keeps order: every bad message reaches the
	// gateway before the good tick that follows.
	for _, b := range bad {
		msg := &nats.Msg{Subject: b.subject, Data: []byte(b.data), Header: nats.Header{shared.EpochHeader: {l.feed.Epoch()}}}
		if err := l.feedNC.PublishMsg(msg); err != nil {
			t.Fatalf("%s: %v", b.name, err)
		}
	}
	good := l.publish(t, 1)[0]
	waitSeq(t, l.gateway, good.Seq)

	if got := l.gateway.Invalid(); got != uint64(len(bad)) {
		t.Errorf("Invalid = %d, want %d", got, len(bad))
	}
	held, _, _ := l.gateway.History.Since(0, 100, nil)
	if !slices.Equal(seqs(held), []uint64{good.Seq}) || string(held[0].Raw) != string(good.Raw) {
		t.Errorf("History holds %v, want only the good tick %d", seqs(held), good.Seq)
	}
	if got := <-sub.C; got.Seq != good.Seq {
		t.Errorf("hub delivered seq %d first, want the good tick %d", got.Seq, good.Seq)
	}
	if isDone(sub) {
		t.Errorf("an invalid message cut the hub subscriber: %v", sub.Err())
	}
}

// waitFannedOut reads probe until it has seq: then the hub has offered that
// tick to every subscriber, and a subscription made now gets only later ones.
// Waiting on the history is not enough for that, since the gateway appends a
// tick to the history before it fans it out: a subscription made in between
// also gets the tick the history already holds.
func waitFannedOut(t *testing.T, probe *shared.Subscription, seq uint64) {
	t.Helper()
	for {
		select {
		case tk := <-probe.C:
			if tk.Seq == seq {
				return
			}
		case <-probe.Done():
			t.Fatalf("probe cut off before seq %d: %v", seq, probe.Err())
		case <-time.After(10 * time.Second):
			t.Fatalf("hub did not fan out seq %d", seq)
		}
	}
}

func TestGatewayFollowsNewEpoch(t *testing.T) {
	l := startFeedLab(t, 100)
	probe := l.gateway.Hub.Subscribe(100)
	defer probe.Close()
	old := l.publish(t, 5)
	waitFannedOut(t, probe, 5)
	sub := l.gateway.Hub.Subscribe(100)
	defer sub.Close()
	l.publish(t, 2) // seqs 6, 7 reach the subscriber before the restart
	waitSeq(t, l.gateway, 7)

	// A restarted feed: a new epoch, seqs from 1 again.
	restarted, err := shared.NewFeed(l.feedNC, 42, shared.DefaultSymbols, 0)
	if err != nil {
		t.Fatal(err)
	}
	var fresh []shared.Tick
	for range 3 {
		tk, err := restarted.Publish()
		if err != nil {
			t.Fatal(err)
		}
		fresh = append(fresh, tk)
	}
	waitGateway(t, l.gateway.History, "the new epoch's seq 3", func() bool {
		return l.gateway.Epoch() == restarted.Epoch() && l.gateway.History.Last() == 3
	})

	held, after, reset := l.gateway.History.Since(0, 100, nil)
	if !slices.Equal(seqs(held), seqRange(1, 3)) || after != 0 || reset {
		t.Fatalf("History after restart = %v, %d, %v; want [1 2 3], 0, false (the old run forgotten)", seqs(held), after, reset)
	}
	for i, tk := range held {
		if string(tk.Raw) != string(fresh[i].Raw) {
			t.Errorf("seq %d: Raw %s, want the new feed's %s", tk.Seq, tk.Raw, fresh[i].Raw)
		}
	}
	// Same seed, same walk: only t_us tells the two runs' seq 1 apart. The history
	// must hold the new one.
	if held[0].TUs < old[0].TUs {
		t.Errorf("seq 1 is from the old epoch (t_us %d < %d)", held[0].TUs, old[0].TUs)
	}

	select {
	case <-sub.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("hub subscriber not cut off by the restart")
	}
	if err := sub.Err(); !errors.Is(err, shared.ErrFeedRestarted) {
		t.Errorf("subscriber Err = %v, want ErrFeedRestarted", err)
	}
	// It got the old epoch's ticks and nothing of the new one.
	if got := drained(sub); !slices.Equal(got, []uint64{6, 7}) {
		t.Errorf("cut subscriber queue = %v, want [6 7]", got)
	}

	// A client that subscribes now follows the new epoch. (A probe that
	// subscribed after the restart says when the hub is done with seq 4.)
	probe = l.gateway.Hub.Subscribe(10)
	defer probe.Close()
	if _, err := restarted.Publish(); err != nil {
		t.Fatal(err)
	}
	waitFannedOut(t, probe, 4)
	next := l.gateway.Hub.Subscribe(10)
	defer next.Close()
	tk, err := restarted.Publish()
	if err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-next.C:
		if got.Seq != tk.Seq {
			t.Errorf("new subscriber got seq %d, want %d", got.Seq, tk.Seq)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("new subscriber got nothing after the restart")
	}
}

func TestTwoGatewaysFollowOneFeed(t *testing.T) {
	l := startFeedLab(t, 100)
	second := startGateway(t, l.broker, 100)
	sent := l.publish(t, 10)
	for i, gw := range []*shared.Gateway{l.gateway, second} {
		waitSeq(t, gw, 10)
		held, _, _ := gw.History.Since(0, 100, nil)
		for j, tk := range held {
			if string(tk.Raw) != string(sent[j].Raw) {
				t.Errorf("gateway %d seq %d: Raw %s, want %s", i, tk.Seq, tk.Raw, sent[j].Raw)
			}
		}
	}
}

// TestGatewayStartIsLiveOnReturn: nats.Conn.Subscribe only buffers the SUB, so
// unless Start waits for the server, a tick published on another connection
// right after Start returns can be lost (and labtest's Publish then finds the
// history starting after seq 1). A proxy that holds the gateway connection's
// bytes makes the race certain instead of occasional.
func TestGatewayStartIsLiveOnReturn(t *testing.T) {
	b := startBroker(t)
	feedNC := connect(t, b, "test-feed")
	feed, err := shared.NewFeed(feedNC, 42, shared.DefaultSymbols, 0)
	if err != nil {
		t.Fatal(err)
	}
	p := startHoldingProxy(t, b.URL())
	viaProxy, err := shared.StartBroker(shared.BrokerConfig{URL: p.url})
	if err != nil {
		t.Fatal(err)
	}
	gwNC := connect(t, viaProxy, "test-gateway")
	gw := shared.NewGateway(10, discardLog())
	t.Cleanup(gw.Close)

	p.hold() // from now on the gateway's bytes wait in the proxy
	started := make(chan error, 1)
	go func() { started <- gw.Start(gwNC) }()
	var first shared.Tick
	published := false
	select {
	case err := <-started:
		// Start says the gateway follows the feed: publish now, as lab.go and
		// labtest do, and make sure the server has routed the tick.
		if err != nil {
			t.Fatal(err)
		}
		if first, err = feed.Publish(); err != nil {
			t.Fatal(err)
		}
		if err := feedNC.Flush(); err != nil {
			t.Fatal(err)
		}
		published = true
		p.release()
	case <-time.After(100 * time.Millisecond):
		// Start is waiting for the server, as it should: let it through.
		p.release()
		if err := <-started; err != nil {
			t.Fatal(err)
		}
	}
	if !published {
		if first, err = feed.Publish(); err != nil {
			t.Fatal(err)
		}
	}
	// Whatever Start did, the subscription is live after this round trip, so the
	// second tick reaches the gateway and the test cannot hang on it.
	if err := gwNC.Flush(); err != nil {
		t.Fatal(err)
	}
	second, err := feed.Publish()
	if err != nil {
		t.Fatal(err)
	}
	waitSeq(t, gw, second.Seq)
	if ticks, _, _ := gw.History.Since(0, 10, nil); len(ticks) == 0 || ticks[0].Seq != first.Seq {
		t.Errorf("gateway holds %v, want it to start at seq %d, published after Start returned", seqs(ticks), first.Seq)
	}
}

// holdingProxy forwards TCP between NATS clients and a server, and can hold
// what clients send until released.
type holdingProxy struct {
	url      string
	held     chan struct{} // closed: hold client bytes
	released chan struct{} // closed: forward them again
}

func startHoldingProxy(t *testing.T, natsURL string) *holdingProxy {
	t.Helper()
	target := strings.TrimPrefix(natsURL, "nats://")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &holdingProxy{url: "nats://" + ln.Addr().String(), held: make(chan struct{}), released: make(chan struct{})}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	track := func(c net.Conn) {
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
	}
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		p.release()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", target)
			if err != nil {
				client.Close()
				return
			}
			track(client)
			track(server)
			wg.Go(func() {
				defer server.Close()
				buf := make([]byte, 32<<10)
				for {
					n, err := client.Read(buf)
					if err != nil {
						return
					}
					select {
					case <-p.held:
						<-p.released
					default:
					}
					if _, err := server.Write(buf[:n]); err != nil {
						return
					}
				}
			})
			wg.Go(func() {
				defer client.Close()
				_, _ = io.Copy(client, server)
			})
		}
	})
	return p
}

func (p *holdingProxy) hold() { close(p.held) }

func (p *holdingProxy) release() {
	select {
	case <-p.released:
	default:
		close(p.released)
	}
}

// A valid tick without the epoch header (e.g. a learner's
// `nats pub ticks.ACME '{"seq":9,...}'`) must not pass for a feed restart,
// which would forget the history and cut every client: it is dropped and counted.
func TestGatewayDropsTickWithoutEpochHeader(t *testing.T) {
	l := startFeedLab(t, 100)
	l.publish(t, 5)
	waitSeq(t, l.gateway, 5)
	sub := l.gateway.Hub.Subscribe(100)
	defer sub.Close()

	stray := `{"seq":6,"symbol":"ACME","price":1,"t_us":1}`
	if err := l.feedNC.Publish("ticks.ACME", []byte(stray)); err != nil {
		t.Fatal(err)
	}
	good := l.publish(t, 1)[0] // seq 6 from the real feed
	waitGateway(t, l.gateway.History, "the feed's tick after the stray one", func() bool {
		n := l.gateway.History.Newest()
		return n != nil && string(n.Raw) == string(good.Raw)
	})

	if isDone(sub) {
		t.Errorf("a header-less tick cut the hub subscriber: %v; want it dropped", sub.Err())
	}
	held, _, _ := l.gateway.History.Since(0, 100, nil)
	if !slices.Equal(seqs(held), seqRange(1, 5)) && !slices.Equal(seqs(held), seqRange(1, 6)) {
		t.Errorf("History = %v, want 1..5 plus the feed's 6: the feed never restarted", seqs(held))
	}
	for _, tk := range held {
		if string(tk.Raw) == stray {
			t.Errorf("the header-less tick %s is in the history, want it dropped", stray)
		}
	}
	if got := l.gateway.Invalid(); got != 1 {
		t.Errorf("Invalid = %d, want 1 (the header-less tick)", got)
	}
}

// Close ends every client subscription, so no client waits forever for ticks
// that will never come.
func TestGatewayCloseEndsSubscriptions(t *testing.T) {
	l := startFeedLab(t, 100)
	sub := l.gateway.Hub.Subscribe(10)
	defer sub.Close()
	l.gateway.Close()
	select {
	case <-sub.Done():
	case <-time.After(time.Second):
		t.Fatal("hub subscriber still open after Gateway.Close, want it ended")
	}
}

func TestGatewayCloseTwice(t *testing.T) {
	gw := shared.NewGateway(10, discardLog())
	gw.Close() // never started: nothing to do
	l := startFeedLab(t, 10)
	l.gateway.Close()
	l.gateway.Close()
}

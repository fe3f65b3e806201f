package websocket_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	ws "github.com/coder/websocket"

	"commlab/patterns/websocket"
	"commlab/shared"
	"commlab/shared/labtest"
)

// fixture is a lab (embedded NATS, feed, gateway) with the WebSocket handler
// served on a loopback port.
type fixture struct {
	lab      *labtest.Lab
	stats    *shared.PatternStats
	ws       *websocket.Server
	srv      *httptest.Server
	shutdown context.CancelFunc
}

func start(t *testing.T, opts *websocket.Options, labOpts *labtest.Options) *fixture {
	t.Helper()
	lab := labtest.Start(t, labOpts)
	stats := lab.Metrics.Pattern("ws")
	h := websocket.Handler(lab.Gateway, stats, lab.Log, opts)
	srv, shutdown := labtest.Serve(t, h)
	return &fixture{lab: lab, stats: stats, ws: h, srv: srv, shutdown: shutdown}
}

// wsURL is the stream's address, with query appended (e.g. "?since=5").
func (f *fixture) wsURL(query string) string {
	return "ws" + strings.TrimPrefix(f.srv.URL, "http") + "/api/ws" + query
}

// dial opens a raw WebSocket to the handler, closed when the test ends. Once it
// returns, the server has subscribed this connection to the hub.
func (f *fixture) dial(t *testing.T, query string, opts *ws.DialOptions) *ws.Conn {
	t.Helper()
	if opts == nil {
		opts = &ws.DialOptions{}
	}
	opts.HTTPClient = newHTTPClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := ws.Dial(ctx, f.wsURL(query), opts)
	if err != nil {
		t.Fatalf("dial %s: %v", query, err)
	}
	t.Cleanup(func() { _ = c.CloseNow() })
	return c
}

// newHTTPClient returns a client whose kept-alive connections are closed when
// the test ends, so goleak sees no transport goroutine left over.
func newHTTPClient(t *testing.T) *http.Client {
	c := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// readFrame reads one message, failing the test after 10s.
func readFrame(t *testing.T, c *ws.Conn) (ws.MessageType, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	typ, data, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return typ, data
}

// readTicks reads len(want) frames and checks that each holds exactly the
// bytes of the corresponding tick.
func readTicks(t *testing.T, c *ws.Conn, want []shared.Tick) {
	t.Helper()
	for _, w := range want {
		typ, data := readFrame(t, c)
		if typ != ws.MessageText || !bytes.Equal(data, w.Raw) {
			t.Fatalf("got frame %v %s, want text frame %s", typ, data, w.Raw)
		}
	}
}

func writeFrame(t *testing.T, c *ws.Conn, typ ws.MessageType, msg string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Write(ctx, typ, []byte(msg)); err != nil {
		t.Fatalf("write %q: %v", msg, err)
	}
}

// collector gathers what a Subscribe client hands to fn and lets the test wait
// for a seq.
type collector struct {
	mu      sync.Mutex
	ticks   []shared.Tick
	changed chan struct{} // closed at the next tick
}

func newCollector() *collector { return &collector{changed: make(chan struct{})} }

func (c *collector) add(t shared.Tick) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ticks = append(c.ticks, t)
	close(c.changed)
	c.changed = make(chan struct{})
}

func (c *collector) snapshot() []shared.Tick {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]shared.Tick(nil), c.ticks...)
}

// waitLen waits until the client has been handed n ticks.
func (c *collector) waitLen(t *testing.T, n int) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		c.mu.Lock()
		got, changed := len(c.ticks), c.changed
		c.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("client got %d ticks, want %d", got, n)
		}
	}
}

// waitSeq waits until the client has been handed seq or a later one.
func (c *collector) waitSeq(t *testing.T, seq uint64) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		c.mu.Lock()
		var last uint64
		if n := len(c.ticks); n > 0 {
			last = c.ticks[n-1].Seq
		}
		changed := c.changed
		c.mu.Unlock()
		if last >= seq {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("client got up to seq %d, want %d", last, seq)
		}
	}
}

// subscribe runs websocket.Subscribe until stop is called or the test ends;
// stop returns what Subscribe returned.
func subscribe(t *testing.T, baseURL string, opts *websocket.ClientOptions) (col *collector, stop func() error) {
	t.Helper()
	col = newCollector()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- websocket.Subscribe(ctx, baseURL, col.add, opts) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			err = <-done
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return col, stop
}

// checkRun checks that got is exactly want: same seqs, same bytes.
func checkRun(t *testing.T, got, want []shared.Tick) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d ticks, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].Seq != want[i].Seq || !bytes.Equal(got[i].Raw, want[i].Raw) {
			t.Fatalf("tick %d: got seq %d %s, want seq %d %s", i, got[i].Seq, got[i].Raw, want[i].Seq, want[i].Raw)
		}
	}
}

func checkNoGapNoDup(t *testing.T, st *shared.ClientStats) {
	t.Helper()
	if g, d := st.Gaps.Load(), st.Dups.Load(); g != 0 || d != 0 {
		t.Fatalf("got %d gaps and %d dups, want none", g, d)
	}
}

func TestSubscribeDeliversEveryTickOnce(t *testing.T) {
	f := start(t, nil, nil)
	first := f.lab.Publish(t, 1)[0]
	cst := new(shared.ClientStats)
	col, stop := subscribe(t, f.srv.URL, &websocket.ClientOptions{Since: first.Seq, Stats: cst})

	want := f.lab.Publish(t, 50)
	col.waitSeq(t, want[len(want)-1].Seq)
	if err := stop(); err != nil {
		t.Fatalf("Subscribe returned %v after its ctx ended, want nil", err)
	}

	checkRun(t, col.snapshot(), want)
	checkNoGapNoDup(t, cst)
	if got := cst.Messages.Load(); got != 50 {
		t.Errorf("client Messages = %d, want 50", got)
	}
	if r, rc := cst.Requests.Load(), cst.Reconnects.Load(); r != 1 || rc != 0 {
		t.Errorf("client Requests, Reconnects = %d, %d; want 1, 0", r, rc)
	}
	// The client's bytes are counted on the wire: the 101 response, and a
	// 2-byte frame header before each tick.
	payload := 0
	for _, tk := range want {
		payload += len(tk.Raw)
	}
	if got := cst.Bytes.Load(); got < uint64(payload+2*len(want)+100) {
		t.Errorf("client Bytes = %d, want at least payload %d + framing + handshake", got, payload)
	}

	labtest.WaitFor(t, "the server to see the client leave", func() bool { return f.stats.Disconnects.Load() == 1 })
	s := f.stats.Snapshot()
	if s.Requests != 1 || s.Connections != 1 || s.Clients != 0 || s.Messages != 50 {
		t.Errorf("server stats %+v, want 1 request, 1 connection, 0 clients, 50 messages", s)
	}
	if s.Bytes < uint64(payload) {
		t.Errorf("server Bytes = %d, want at least the payload %d", s.Bytes, payload)
	}
}

func TestWithoutSinceOnlyLiveTicks(t *testing.T) {
	f := start(t, nil, nil)
	f.lab.Publish(t, 10) // before the client: never sent to it
	c := f.dial(t, "", nil)
	live := f.lab.Publish(t, 5)
	readTicks(t, c, live)
}

func TestResumeAfterDroppedConnection(t *testing.T) {
	f := start(t, nil, nil)
	first := f.lab.Publish(t, 1)[0]
	cst := new(shared.ClientStats)
	var dropper labtest.Dropper
	hc := dropper.Wrap(shared.NewHTTPClient(cst))
	t.Cleanup(hc.CloseIdleConnections)
	col, _ := subscribe(t, f.srv.URL, &websocket.ClientOptions{Since: first.Seq, HTTPClient: hc, Stats: cst})

	// Publish without pause while the connection is cut twice under the client.
	stopPub := make(chan struct{})
	var stopOnce sync.Once
	stopPublishing := func() { stopOnce.Do(func() { close(stopPub) }) }
	t.Cleanup(stopPublishing) // also when the test fails early
	published := make(chan []shared.Tick, 1)
	pubErr := make(chan error, 1)
	go func() {
		// At most half the history: a client that resumes must find its
		// place in it, or it gets a reset and the ticks are gone.
		ticks, err := publishUntil(f.lab, stopPub, 5000)
		published <- ticks
		pubErr <- err
	}()
	for _, at := range []uint64{100, 300} {
		col.waitSeq(t, first.Seq+at)
		// The client may have got this far before the last drop: make sure
		// it has connected again, so that each drop cuts a connection.
		labtest.WaitFor(t, "the client to connect again", func() bool { return dropper.Held() > 0 })
		if n := dropper.DropAll(); n == 0 {
			t.Fatalf("after seq %d: no connection to drop", first.Seq+at)
		}
	}
	col.waitSeq(t, first.Seq+500)
	stopPublishing()
	want := <-published
	if err := <-pubErr; err != nil {
		t.Fatal(err)
	}
	col.waitSeq(t, want[len(want)-1].Seq)

	checkRun(t, col.snapshot(), want)
	checkNoGapNoDup(t, cst)
	if got := cst.Reconnects.Load(); got < 1 {
		t.Errorf("Reconnects = %d, want >= 1", got)
	}
}

// publishUntil publishes ticks one at a time, each held by the gateway before
// the next, until stop is closed or most are out.
func publishUntil(lab *labtest.Lab, stop <-chan struct{}, most int) ([]shared.Tick, error) {
	var ticks []shared.Tick
	for len(ticks) < most {
		select {
		case <-stop:
			return ticks, nil
		default:
		}
		changed := lab.Gateway.History.Changed()
		tk, err := lab.Feed.Publish()
		if err != nil {
			return ticks, err
		}
		ticks = append(ticks, tk)
		for lab.Gateway.History.Last() < tk.Seq {
			select {
			case <-changed:
				changed = lab.Gateway.History.Changed()
			case <-time.After(10 * time.Second):
				return ticks, fmt.Errorf("gateway never got seq %d", tk.Seq)
			}
		}
	}
	<-stop
	return ticks, nil
}

func TestSinceOlderThanHistoryResets(t *testing.T) {
	f := start(t, nil, &labtest.Options{History: 100})
	ticks := f.lab.Publish(t, 150) // seqs 1..150; the gateway holds 51..150

	t.Run("frames", func(t *testing.T) {
		c := f.dial(t, "?since=10", nil)
		_, data := readFrame(t, c)
		var ctl shared.Control
		if err := json.Unmarshal(data, &ctl); err != nil {
			t.Fatalf("first frame %s: %v", data, err)
		}
		want := shared.Control{Op: shared.OpReset, Epoch: f.lab.Gateway.Epoch(), Next: 50}
		if ctl != want {
			t.Fatalf("first frame %s, want reset control %+v", data, want)
		}
		readTicks(t, c, ticks[50:])
	})

	t.Run("Subscribe", func(t *testing.T) {
		cst := new(shared.ClientStats)
		col, _ := subscribe(t, f.srv.URL, &websocket.ClientOptions{Since: 10, Stats: cst})
		col.waitSeq(t, 150)
		checkRun(t, col.snapshot(), ticks[50:])
		if r, g := cst.Resets.Load(), cst.Gaps.Load(); r != 1 || g != 40 {
			t.Errorf("Resets, Gaps = %d, %d; want 1, 40 (seqs 11..50 are gone)", r, g)
		}
	})
}

// TestSymbolsOpNarrowsTheStream checks the symbols op frame by frame. The ack
// is the boundary: the server reads ops and writes ticks on one goroutine, so
// every tick before the ack was written under the old filter and every tick
// after it under the new one. A tick the hub had queued for the client but the
// server had not yet written when the op arrived counts as after: it goes out
// after the ack, under the new filter.
func TestSymbolsOpNarrowsTheStream(t *testing.T) {
	f := start(t, nil, nil)

	t.Run("frames", func(t *testing.T) {
		c := f.dial(t, "", nil)
		// Nothing is published yet, so nothing can come before the ack.
		writeFrame(t, c, ws.MessageText, `{"op":"symbols","symbols":["ACME"]}`)
		if _, ack := readFrame(t, c); string(ack) != `{"op":"symbols","symbols":["ACME"]}` {
			t.Fatalf("got %s, want the symbols ack", ack)
		}
		ticks := f.lab.Publish(t, 80)
		acme := onlySymbol(ticks, "ACME")
		if len(acme) == 0 {
			t.Fatal("no ACME tick among 80; pick another seed")
		}
		readTicks(t, c, acme)

		// An empty list restores every symbol. The ack comes right after the
		// last ACME tick: any other tick in between would fail here. The ticks
		// after that ACME one may still be queued for this client when the op
		// arrives; then they come after the ack, unfiltered.
		writeFrame(t, c, ws.MessageText, `{"op":"symbols","symbols":[]}`)
		if _, ack := readFrame(t, c); string(ack) != `{"op":"symbols","symbols":[]}` {
			t.Fatalf("got %s, want the symbols ack", ack)
		}
		ticks = append(ticks, f.lab.Publish(t, 5)...)
		// So the frames after the ack are every tick from some seq on, to the
		// last one published: no gap, no duplicate, nothing of the narrowed
		// stream again. Which seq they start at depends only on when the op
		// arrived, never later than the first tick published after the ack.
		_, data := readFrame(t, c)
		from := -1
		for i, tk := range ticks {
			if bytes.Equal(data, tk.Raw) {
				from = i
			}
		}
		lastACME := slices.IndexFunc(ticks, func(tk shared.Tick) bool { return tk.Seq == acme[len(acme)-1].Seq })
		if from <= lastACME || from > len(ticks)-5 {
			t.Fatalf("first frame after the ack %s, want a tick after seq %d and no later than seq %d",
				data, ticks[lastACME].Seq, ticks[len(ticks)-5].Seq)
		}
		readTicks(t, c, ticks[from+1:])
		t.Logf("the widened stream started %d ticks before the first one published after the ack", len(ticks)-5-from)
	})

	t.Run("Subscribe", func(t *testing.T) {
		first := f.lab.Publish(t, 1)[0]
		cst := new(shared.ClientStats)
		col, _ := subscribe(t, f.srv.URL, &websocket.ClientOptions{Since: first.Seq, Symbols: []string{"ACME"}, Stats: cst})
		acme := onlySymbol(f.lab.Publish(t, 80), "ACME")
		col.waitSeq(t, acme[len(acme)-1].Seq)
		checkRun(t, col.snapshot(), acme)
		checkNoGapNoDup(t, cst) // the seqs of other symbols are skipped, not missed
	})
}

func onlySymbol(ticks []shared.Tick, symbol string) []shared.Tick {
	var out []shared.Tick
	for _, tk := range ticks {
		if tk.Symbol == symbol {
			out = append(out, tk)
		}
	}
	return out
}

func TestSubscribeGivesUpWhenRetryCannotHelp(t *testing.T) {
	f := start(t, nil, nil)
	malformed := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		shared.WriteError(w, http.StatusBadRequest, "since must be a tick seq")
	}))
	t.Cleanup(malformed.Close)

	tests := []struct {
		name    string
		baseURL string
		opts    *websocket.ClientOptions
		want    string // in the error
	}{
		{"unknown symbol: closed with 1008", f.srv.URL, &websocket.ClientOptions{Symbols: []string{"NOPE"}}, "unknown_symbol"},
		{"handshake refused with 400", malformed.URL, nil, "400"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := websocket.Subscribe(ctx, tt.baseURL, func(shared.Tick) {}, tt.opts)
			if err == nil || ctx.Err() != nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Subscribe returned %v (ctx %v), want an error mentioning %q at once", err, ctx.Err(), tt.want)
			}
		})
	}
}

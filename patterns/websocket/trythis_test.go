package websocket_test

// The observations the README's "Try this" promises, each asserted on real
// sockets: #1 the symbols op saves bytes on the wire, #2 one stuck client
// stalls a naive broadcast loop but not the lab's hub, #3 a client rides out
// the lab stopping and starting again.

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	ws "github.com/coder/websocket"

	"commlab/patterns/websocket"
	"commlab/shared"
	"commlab/shared/labtest"
)

// TestSymbolsOpSendsFewerBytes (Try this #1): the filter runs in the server, so
// the other symbols never cross the wire. Of two raw clients, one narrowed to
// ACME and HOOLI, each reads after the ack exactly its ticks plus a 2-byte frame
// header per tick, not one byte more.
func TestSymbolsOpSendsFewerBytes(t *testing.T) {
	f := start(t, &websocket.Options{PingInterval: time.Hour}, nil) // no ping in the count
	dialCounted := func(stats *shared.ClientStats) *ws.Conn {
		hc := shared.NewHTTPClient(stats)
		t.Cleanup(hc.CloseIdleConnections)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, _, err := ws.Dial(ctx, f.wsURL(""), &ws.DialOptions{HTTPClient: hc})
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		t.Cleanup(func() { _ = c.CloseNow() })
		return c
	}
	var allStats, narrowStats shared.ClientStats
	all := dialCounted(&allStats)
	narrow := dialCounted(&narrowStats)
	writeFrame(t, narrow, ws.MessageText, `{"op":"symbols","symbols":["ACME","HOOLI"]}`)
	if _, ack := readFrame(t, narrow); string(ack) != `{"op":"symbols","symbols":["ACME","HOOLI"]}` {
		t.Fatalf("got %s, want the symbols ack", ack)
	}
	allBefore, narrowBefore := allStats.Bytes.Load(), narrowStats.Bytes.Load()

	ticks := f.lab.Publish(t, 100)
	mine := slices.DeleteFunc(slices.Clone(ticks), func(tk shared.Tick) bool { return tk.Symbol != "ACME" && tk.Symbol != "HOOLI" })
	readTicks(t, all, ticks)
	readTicks(t, narrow, mine) // fails on any tick of another symbol

	wire := func(ticks []shared.Tick) (n uint64) {
		for _, tk := range ticks {
			n += 2 + uint64(len(tk.Raw)) // a server frame under 126 bytes: 2 bytes of header, no mask
		}
		return n
	}
	gotAll, gotNarrow := allStats.Bytes.Load()-allBefore, narrowStats.Bytes.Load()-narrowBefore
	if gotAll != wire(ticks) || gotNarrow != wire(mine) {
		t.Fatalf("read %d B for all %d ticks and %d B for the %d of ACME and HOOLI; want %d and %d: the payloads and 2 B of header each",
			gotAll, len(ticks), gotNarrow, len(mine), wire(ticks), wire(mine))
	}
	if gotNarrow*2 > gotAll {
		t.Errorf("the narrowed client read %d B, the whole feed %d B: want less than half", gotNarrow, gotAll)
	}
	t.Logf("100 ticks: %d B for the whole feed, %d B for the %d of ACME and HOOLI", gotAll, gotNarrow, len(mine))
}

// naiveServer is the broadcast loop of many tutorials, here only to be measured
// against the lab: it keeps every WebSocket in a list, and broadcast writes a
// message to each client in turn, on the caller's goroutine.
type naiveServer struct {
	mu      sync.Mutex
	clients []*ws.Conn
}

func (n *naiveServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c, err := ws.Accept(w, r, nil)
	if err != nil {
		return
	}
	gone := c.CloseRead(context.Background()) // handles pings and the close; ends with the connection
	n.mu.Lock()
	n.clients = append(n.clients, c)
	n.mu.Unlock()
	<-gone.Done()
}

func (n *naiveServer) len() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.clients)
}

// broadcast writes msg to every client in turn, each write bounded by timeout.
// It returns how long the slowest write took and what it returned.
func (n *naiveServer) broadcast(msg []byte, timeout time.Duration) (slowest time.Duration, slowErr error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, c := range n.clients {
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		err := c.Write(ctx, ws.MessageText, msg)
		cancel()
		if d := time.Since(start); d > slowest {
			slowest, slowErr = d, err
		}
	}
	return slowest, slowErr
}

func (n *naiveServer) closeAll() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, c := range n.clients {
		_ = c.CloseNow()
	}
}

// stuckClient completes a WebSocket handshake with srv and then never reads,
// with tiny socket buffers on both ends: the server's writes to it block after
// a few KB instead of megabytes, as a closed laptop's would once its buffers are
// full.
func stuckClient(t *testing.T, srv *httptest.Server, conns *trackedConns) {
	t.Helper()
	stuck := handshakeByHand(t, srv)
	if err := stuck.(*net.TCPConn).SetReadBuffer(1); err != nil {
		t.Fatal(err)
	}
	if err := conns.get(t, stuck.LocalAddr().String()).SetWriteBuffer(1); err != nil {
		t.Fatal(err)
	}
}

// arrivals records when each tick reached a client.
type arrivals struct {
	mu sync.Mutex
	at []time.Time
}

func (a *arrivals) add(shared.Tick) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.at = append(a.at, time.Now())
}

func (a *arrivals) len() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.at)
}

// when returns when the i-th tick arrived.
func (a *arrivals) when(i int) time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.at[i]
}

// stuckTicks is more than the stuck client's buffers hold (some 140 KB against
// a few KB), so a writer that waits for it must block.
const stuckTicks = 2000

// TestNaiveBroadcastStallsBehindAStuckClient (Try this #2): with the loop of
// the tutorials, one client that stops reading stops everyone after it in the
// list. Its Write blocks once its buffers are full, until the write deadline,
// and the loop with it: the other clients wait for a tick at least that long.
func TestNaiveBroadcastStallsBehindAStuckClient(t *testing.T) {
	lab := labtest.Start(t, nil)
	naive := &naiveServer{}
	srv, conns, _ := serveTracked(t, naive)
	t.Cleanup(naive.closeAll) // before serveTracked's cleanup: the handlers wait for their connections

	stuckClient(t, srv, conns) // first in the list
	labtest.WaitFor(t, "the stuck client to join", func() bool { return naive.len() == 1 })
	const readers = 3
	got := make([]*arrivals, readers)
	for i := range got {
		got[i] = new(arrivals)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- websocket.Subscribe(ctx, srv.URL, got[i].add, nil) }()
		t.Cleanup(func() { cancel(); <-done })
	}
	labtest.WaitFor(t, "the readers to join", func() bool { return naive.len() == 1+readers })

	const deadline = time.Second
	stalled, stalledAt := -1, time.Time{}
	for i, tk := range lab.Publish(t, stuckTicks) {
		start := time.Now()
		slowest, err := naive.broadcast(tk.Raw, deadline)
		if slowest >= deadline && stalled < 0 {
			stalled, stalledAt = i, start
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("the write that took %v returned %v, want the deadline's error", slowest, err)
			}
		}
	}
	if stalled < 0 {
		t.Fatalf("no write blocked until its %v deadline in %d ticks: the stuck client's buffers held them all", deadline, stuckTicks)
	}
	// The readers come after the stuck client in the list: that tick reached
	// them only once the stuck client's write had given up.
	for i, a := range got {
		labtest.WaitFor(t, "every tick to reach the readers", func() bool { return a.len() == stuckTicks })
		if late := a.when(stalled).Sub(stalledAt); late < deadline {
			t.Errorf("reader %d got tick %d %v after it was broadcast, want at least the %v the loop stalled behind the stuck client", i, stalled+1, late, deadline)
		}
	}
	t.Logf("the loop stalled at tick %d for the %v deadline; coder/websocket then closed the stuck connection and the rest flowed", stalled+1, deadline)
}

// TestHubDoesNotStallBehindAStuckClient (Try this #2): the same stuck client,
// first to connect, beside the same readers, against the lab's server with a
// write deadline of a minute. The hub only offers each tick to every client's
// own queue, and each connection has its own writer: the readers get every
// tick while the stuck client's writer is still blocked.
func TestHubDoesNotStallBehindAStuckClient(t *testing.T) {
	lab := labtest.Start(t, nil)
	stats := lab.Metrics.Pattern("ws")
	opts := &websocket.Options{QueueLen: 2 * stuckTicks, WriteTimeout: time.Minute}
	srv, conns, _ := serveTracked(t, websocket.Handler(lab.Gateway, stats, lab.Log, opts))

	stuckClient(t, srv, conns)
	first := lab.Publish(t, 1)[0]
	const readers = 3
	cols := make([]*collector, readers)
	for i := range cols {
		cols[i], _ = subscribe(t, srv.URL, &websocket.ClientOptions{Since: first.Seq})
	}
	labtest.WaitFor(t, "every client to connect", func() bool { return lab.Gateway.Hub.Len() == 1+readers })

	ticks := lab.Publish(t, stuckTicks)
	for _, col := range cols {
		col.waitSeq(t, ticks[len(ticks)-1].Seq) // 10 s at most: far less than the minute a stall would take
		checkRun(t, col.snapshot(), ticks)
	}
	// The stuck client is still there, and has not been sent its ticks: its
	// writer is blocked on a full socket, and nobody waited for it.
	if c, slow := stats.Clients.Load(), stats.SlowDisconnects.Load(); c != 1+readers || slow != 0 {
		t.Fatalf("clients %d, slow disconnects %d; want %d, 0: the stuck client should still be connected", c, slow, 1+readers)
	}
	if sent := stats.Messages.Load(); sent >= (1+readers)*stuckTicks {
		t.Fatalf("the server sent %d ticks, want fewer than %d: the stuck client cannot have taken all of its", sent, (1+readers)*stuckTicks)
	}
	t.Logf("the readers got all %d ticks; the stuck client %d of them so far", stuckTicks, stats.Messages.Load()-readers*stuckTicks)
}

// reconnectLog passes the err of every "will reconnect" the client logs to errs.
type reconnectLog struct{ errs chan error }

func (h reconnectLog) Enabled(context.Context, slog.Level) bool { return true }
func (h reconnectLog) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h reconnectLog) WithGroup(string) slog.Handler            { return h }
func (h reconnectLog) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "will reconnect" {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if err, ok := a.Value.Any().(error); ok && a.Key == "err" {
			select {
			case h.errs <- err:
			default: // the test reads only the first few
			}
		}
		return true
	})
	return nil
}

func (h reconnectLog) next(t *testing.T) error {
	t.Helper()
	select {
	case err := <-h.errs:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("the client logged no \"will reconnect\" in 10s")
		return nil
	}
}

// TestClientRidesOutALabRestart (Try this #3): the lab stops under a client and
// a new one starts on the same address. The client is told 1001, finds nothing
// listening and keeps trying, connects to the new lab, whose feed starts again
// at seq 1 and holds nothing up to the client's place: a reset, and the stream
// goes on from the new lab's seqs, with no gap and no duplicate.
func TestClientRidesOutALabRestart(t *testing.T) {
	labA := labtest.Start(t, nil)
	hA := websocket.Handler(labA.Gateway, labA.Metrics.Pattern("ws"), labA.Log, nil)
	srvA, shutdownA := labtest.Serve(t, hA)
	addr := srvA.Listener.Addr().String()

	log := reconnectLog{errs: make(chan error, 16)}
	cst := new(shared.ClientStats)
	first := labA.Publish(t, 1)[0]
	col, _ := subscribe(t, srvA.URL, &websocket.ClientOptions{Since: first.Seq, Stats: cst, Log: slog.New(log)})
	want := labA.Publish(t, 20)
	col.waitSeq(t, want[len(want)-1].Seq)

	// Stop lab A as Ctrl-C does: nothing listens any more, and each session
	// closes its connection with 1001.
	srvA.Close()
	shutdownA()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := hA.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if err := log.next(t); ws.CloseStatus(err) != ws.StatusGoingAway {
		t.Fatalf("the client's first reconnect was after %v, want the server's close 1001", err)
	}
	if err := log.next(t); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("the client's next reconnect was after %v, want connection refused: nothing listens", err)
	}

	// Lab B: a new feed, 5 ticks in, on the same address.
	labB := labtest.Start(t, nil)
	labB.Publish(t, 5)
	labtest.ServeAt(t, addr, websocket.Handler(labB.Gateway, labB.Metrics.Pattern("ws"), labB.Log, nil))
	labtest.WaitFor(t, "the client to reconnect and be told to reset", func() bool { return cst.Resets.Load() == 1 })
	fresh := labB.Publish(t, 5) // seqs 6..10 of the new feed
	want = append(want, fresh...)
	col.waitLen(t, len(want))
	checkRun(t, col.snapshot(), want)
	checkNoGapNoDup(t, cst)
	if r, req := cst.Reconnects.Load(), cst.Requests.Load(); r != 1 || req < 3 {
		t.Errorf("reconnects %d, requests %d; want 1 reconnect and at least 3 requests (A, a refused dial, B)", r, req)
	}
}

package websocket_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	ws "github.com/coder/websocket"

	"commlab/patterns/websocket"
	"commlab/shared"
	"commlab/shared/labtest"
)

// reader reads c on its own goroutine, as a client must for pings and close
// frames to be handled. Frames arrive on frames; the error that ended the
// reading on done. The goroutine ends with the connection.
func reader(t *testing.T, c *ws.Conn) (frames <-chan []byte, done <-chan error) {
	fr := make(chan []byte, 100)
	dn := make(chan error, 1)
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			_, data, err := c.Read(context.Background())
			if err != nil {
				dn <- err
				return
			}
			fr <- data
		}
	})
	t.Cleanup(func() {
		_ = c.CloseNow()
		wg.Wait()
	})
	return fr, dn
}

func TestPingKeepAlive(t *testing.T) {
	t.Run("answered pings keep the connection", func(t *testing.T) {
		f := start(t, &websocket.Options{PingInterval: 20 * time.Millisecond}, nil)
		pings := make(chan struct{}, 100)
		c := f.dial(t, "", &ws.DialOptions{OnPingReceived: func(context.Context, []byte) bool {
			pings <- struct{}{}
			return true // answer with a pong
		}})
		frames, done := reader(t, c)
		for i := range 3 {
			select {
			case <-pings:
			case err := <-done:
				t.Fatalf("connection ended after %d pings: %v", i, err)
			case <-time.After(10 * time.Second):
				t.Fatalf("got %d pings, want 3", i)
			}
		}
		// Each ping waited for our pong before the next; the stream still flows.
		tk := f.lab.Publish(t, 1)[0]
		select {
		case data := <-frames:
			if string(data) != string(tk.Raw) {
				t.Fatalf("got %s, want %s", data, tk.Raw)
			}
		case err := <-done:
			t.Fatalf("connection ended: %v", err)
		case <-time.After(10 * time.Second):
			t.Fatal("no tick after the pings")
		}
		if got := f.stats.Disconnects.Load(); got != 0 {
			t.Errorf("Disconnects = %d, want 0", got)
		}
	})

	t.Run("a peer that never answers is dropped", func(t *testing.T) {
		f := start(t, &websocket.Options{PingInterval: 20 * time.Millisecond, WriteTimeout: 100 * time.Millisecond}, nil)
		pings := make(chan struct{}, 100)
		c := f.dial(t, "", &ws.DialOptions{OnPingReceived: func(context.Context, []byte) bool {
			pings <- struct{}{}
			return false // swallow the ping: no pong
		}})
		_, done := reader(t, c)
		select {
		case err := <-done:
			if len(pings) == 0 {
				t.Fatalf("connection ended (%v) before any ping", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the server kept a peer that never answers its pings")
		}
		labtest.WaitFor(t, "the handler to return", func() bool { return f.stats.Disconnects.Load() == 1 })
		if got := f.stats.SlowDisconnects.Load(); got != 0 {
			t.Errorf("SlowDisconnects = %d, want 0: a dead peer is not a slow one", got)
		}
	})
}

// TestSlowConsumerIsCutOff connects a client that completes the handshake and
// then never reads, beside 50 clients that read. The stuck one is cut off and
// counted; the others get every tick.
func TestSlowConsumerIsCutOff(t *testing.T) {
	lab := labtest.Start(t, nil)
	stats := lab.Metrics.Pattern("ws")
	opts := &websocket.Options{QueueLen: 64, WriteTimeout: time.Second}
	srv, conns, _ := serveTracked(t, websocket.Handler(lab.Gateway, stats, lab.Log, opts))

	// The stuck client: tiny socket buffers on both ends, so the server's
	// writes block after a few hundred ticks instead of megabytes.
	stuck := handshakeByHand(t, srv)
	if err := stuck.(*net.TCPConn).SetReadBuffer(1); err != nil {
		t.Fatal(err)
	}
	if err := conns.get(t, stuck.LocalAddr().String()).SetWriteBuffer(1); err != nil {
		t.Fatal(err)
	}

	first := lab.Publish(t, 1)[0]
	const readers = 50
	cols := make([]*collector, readers)
	cstats := make([]*shared.ClientStats, readers)
	for i := range readers {
		cstats[i] = new(shared.ClientStats)
		cols[i], _ = subscribe(t, srv.URL, &websocket.ClientOptions{Since: first.Seq, Stats: cstats[i]})
	}

	labtest.WaitFor(t, "every client to connect", func() bool { return lab.Gateway.Hub.Len() == readers+1 })

	// Publish in chunks smaller than QueueLen, letting the readers catch up
	// after each, until the hub or the write deadline has cut the stuck client.
	var want []shared.Tick
	publish := func() {
		chunk := lab.Publish(t, 32)
		want = append(want, chunk...)
		for _, col := range cols {
			col.waitSeq(t, chunk[len(chunk)-1].Seq)
		}
	}
	for lab.Gateway.Hub.Len() == readers+1 && stats.SlowDisconnects.Load() == 0 {
		if len(want) > 10_000 {
			t.Fatalf("the stuck client was not cut off after %d ticks", len(want))
		}
		publish()
	}
	labtest.WaitFor(t, "the slow disconnect to be counted", func() bool { return stats.SlowDisconnects.Load() == 1 })
	publish() // the others go on
	labtest.WaitFor(t, "the stuck client's handler to return", func() bool { return stats.Clients.Load() == readers })

	for i, col := range cols {
		checkRun(t, col.snapshot(), want)
		checkNoGapNoDup(t, cstats[i])
	}
	if got := stats.SlowDisconnects.Load(); got != 1 {
		t.Errorf("SlowDisconnects = %d, want 1", got)
	}
	t.Logf("stuck client cut off after %d ticks", len(want)-32)
}

// TestSlowReaderIsToldToTryAgainLater stalls a client long enough for its hub
// queue to overflow, then lets it read again: before the write deadline cuts it
// off, it gets the server's close, 1013 "slow consumer".
func TestSlowReaderIsToldToTryAgainLater(t *testing.T) {
	lab := labtest.Start(t, nil)
	stats := lab.Metrics.Pattern("ws")
	opts := &websocket.Options{QueueLen: 16, WriteTimeout: 10 * time.Second}
	srv, conns, _ := serveTracked(t, websocket.Handler(lab.Gateway, stats, lab.Log, opts))

	// A real WebSocket client with a tiny receive buffer, and the server's end
	// of it with a tiny send buffer: not reading soon blocks the server.
	c := dialTinyBuffers(t, srv, conns, "")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	published := 0
	for lab.Gateway.Hub.Len() > 0 { // the hub cuts the client off: its queue overflowed
		if published > 10_000 {
			t.Fatalf("the hub did not cut the client off after %d ticks", published)
		}
		lab.Publish(t, 16)
		published += 16
	}

	frames := 0
	for {
		_, _, err := c.Read(ctx)
		if err != nil {
			var ce ws.CloseError
			if !errors.As(err, &ce) || ce.Code != ws.StatusTryAgainLater || ce.Reason != "slow consumer" {
				t.Fatalf("read %v after %d frames, want close 1013 \"slow consumer\"", err, frames)
			}
			break
		}
		frames++
	}
	if frames >= published {
		t.Errorf("got all %d ticks, want fewer: the client was cut off", frames)
	}
	labtest.WaitFor(t, "the slow disconnect to be counted", func() bool { return stats.SlowDisconnects.Load() == 1 })
	// The hub dropped the tick that did not fit and those still queued: at
	// least one, at most a queue and one.
	if got := stats.Drops.Load(); got < 1 || got > uint64(opts.QueueLen)+1 {
		t.Errorf("Drops = %d, want 1..%d", got, opts.QueueLen+1)
	}
}

// handshakeByHand opens a WebSocket with a raw TCP connection and returns that
// connection once the server has answered 101. Nothing reads it afterwards.
func handshakeByHand(t *testing.T, srv *httptest.Server) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	req := "GET /api/ws HTTP/1.1\r\nHost: " + srv.Listener.Addr().String() + "\r\n" +
		"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
	if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: got status %d, want 101", resp.StatusCode)
	}
	return conn
}

// trackedConns remembers each server-side TCP connection by its remote
// address, so a test can reach the server's end of a client's connection.
type trackedConns struct {
	net.Listener
	mu       sync.Mutex
	conns    map[string]*net.TCPConn
	accepted chan struct{} // closed and replaced at each Accept
}

func (l *trackedConns) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tcp, ok := c.(*net.TCPConn); ok {
		l.mu.Lock()
		l.conns[tcp.RemoteAddr().String()] = tcp
		close(l.accepted)
		l.accepted = make(chan struct{})
		l.mu.Unlock()
	}
	return c, err
}

func (l *trackedConns) get(t *testing.T, remote string) *net.TCPConn {
	t.Helper()
	c, err := l.await(context.Background(), remote, false)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// await returns the server's end of the connection from remote; with wait set
// it waits for the server to accept it, until ctx ends.
func (l *trackedConns) await(ctx context.Context, remote string, wait bool) (*net.TCPConn, error) {
	for {
		l.mu.Lock()
		c, ok := l.conns[remote]
		accepted := l.accepted
		l.mu.Unlock()
		switch {
		case ok:
			return c, nil
		case !wait:
			return nil, fmt.Errorf("no server connection from %s", remote)
		}
		select {
		case <-accepted:
		case <-ctx.Done():
			return nil, fmt.Errorf("server connection from %s: %w", remote, ctx.Err())
		}
	}
}

// serveTracked serves h as labtest.Serve does, through a trackedConns listener.
func serveTracked(t *testing.T, h http.Handler) (*httptest.Server, *trackedConns, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	srv := httptest.NewUnstartedServer(h)
	tracked := &trackedConns{Listener: srv.Listener, conns: make(map[string]*net.TCPConn), accepted: make(chan struct{})}
	srv.Listener = shared.CountingListener{Listener: tracked}
	srv.Config.ConnContext = shared.ConnContext
	srv.Config.BaseContext = func(net.Listener) context.Context { return ctx }
	srv.Start()
	t.Cleanup(func() {
		cancel()
		srv.Close()
	})
	return srv, tracked, cancel
}

// dialTinyBuffers opens a WebSocket whose both ends have tiny socket buffers:
// as soon as the client stops reading, the server's writes block.
func dialTinyBuffers(t *testing.T, srv *httptest.Server, conns *trackedConns, query string) *ws.Conn {
	c, _ := dialTinySendBuffer(t, srv, conns, query, true)
	return c
}

// dialTinySendBuffer opens a WebSocket whose server end has a tiny send
// buffer, and the client end a tiny receive buffer too if tinyRead is set. It
// returns the server's end, so the test can change its buffer again.
//
// The buffers shrink as soon as the TCP connection exists, before the upgrade
// request is sent: the server may start writing the moment it has answered
// 101, and a send buffer still at its loopback default (megabytes) would take
// in a whole replay before the test could shrink it.
func dialTinySendBuffer(t *testing.T, srv *httptest.Server, conns *trackedConns, query string, tinyRead bool) (*ws.Conn, *net.TCPConn) {
	t.Helper()
	serverEnd := make(chan *net.TCPConn, 1)
	hc := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			server, err := conns.await(ctx, c.LocalAddr().String(), true)
			if err == nil {
				err = server.SetWriteBuffer(1)
			}
			if err == nil && tinyRead {
				err = c.(*net.TCPConn).SetReadBuffer(1)
			}
			if err != nil {
				_ = c.Close()
				return nil, err
			}
			serverEnd <- server
			return c, nil
		},
	}}
	t.Cleanup(hc.CloseIdleConnections)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := ws.Dial(ctx, "ws"+srv.URL[len("http"):]+"/api/ws"+query, &ws.DialOptions{HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.CloseNow() })
	return c, <-serverEnd
}

func TestShutdownClosesWithGoingAway(t *testing.T) {
	f := start(t, nil, nil)
	first := f.lab.Publish(t, 1)[0]
	raw := f.dial(t, "", nil)
	_, rawDone := reader(t, raw)
	silent := handshakeByHand(t, f.srv) // never reads, so never answers the close
	cst := new(shared.ClientStats)
	col, stop := subscribe(t, f.srv.URL, &websocket.ClientOptions{Since: first.Seq, Stats: cst})
	last := f.lab.Publish(t, 5)[4]
	col.waitSeq(t, last.Seq)

	f.shutdown() // as SIGINT does: the server's base context ends
	shutdownAt := time.Now()

	select {
	case err := <-rawDone:
		var ce ws.CloseError
		if !errors.As(err, &ce) || ce.Code != ws.StatusGoingAway || ce.Reason != "server shutting down" {
			t.Fatalf("raw client read %v, want close 1001 \"server shutting down\"", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("raw client not closed at shutdown")
	}
	// The silent peer got the close frame too, 1001 and its reason, and then
	// its connection was cut instead of waiting out the library's 5s.
	got, err := io.ReadAll(silent)
	if err != nil {
		t.Fatalf("silent peer: %v", err)
	}
	reason := "server shutting down"
	closeFrame := append([]byte{0x88, byte(2 + len(reason)), 0x03, 0xe9}, reason...) // 0x3e9 = 1001
	if !bytes.HasSuffix(got, closeFrame) {
		t.Fatalf("silent peer's last bytes % x, want the close frame % x", got[max(0, len(got)-len(closeFrame)):], closeFrame)
	}
	if d := time.Since(shutdownAt); d > 3*time.Second {
		t.Errorf("silent peer cut %v after shutdown, want about a second", d)
	}

	// The Subscribe client treats 1001 as "reconnect later"; ending its ctx
	// ends it cleanly.
	if err := stop(); err != nil {
		t.Fatalf("Subscribe returned %v after its ctx ended, want nil", err)
	}
	labtest.WaitFor(t, "every handler to return", func() bool {
		s := f.stats.Snapshot()
		return s.Clients == 0 && s.Disconnects == s.Connections
	})
	checkNoGapNoDup(t, cst)
	if got := len(col.snapshot()); got != 5 {
		t.Errorf("Subscribe client got %d ticks, want 5", got)
	}
}

// TestWaitWaitsForEverySession checks what http.Server.Shutdown cannot: that
// the sessions on hijacked connections have ended, close handshake and
// accounting included, when Wait returns.
func TestWaitWaitsForEverySession(t *testing.T) {
	f := start(t, nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.ws.Wait(ctx); err != nil {
		t.Fatalf("Wait with no session = %v, want nil at once", err)
	}

	raw := f.dial(t, "", nil)
	_, rawDone := reader(t, raw)
	handshakeByHand(t, f.srv) // never answers the close: its session lasts until the cut
	labtest.WaitFor(t, "both sessions to start", func() bool { return f.stats.Clients.Load() == 2 })

	ended, end := context.WithCancel(context.Background())
	end()
	if err := f.ws.Wait(ended); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait with an ended ctx while 2 sessions are open = %v, want context.Canceled", err)
	}

	f.shutdown()
	if err := f.ws.Wait(ctx); err != nil {
		t.Fatalf("Wait after shutdown = %v, want nil", err)
	}
	// No polling: once Wait has returned, every handler has finished.
	if s := f.stats.Snapshot(); s.Clients != 0 || s.Disconnects != 2 {
		t.Errorf("after Wait: clients %d, disconnects %d; want 0, 2", s.Clients, s.Disconnects)
	}
	// The raw client answered the server's 1001 before its session could end.
	select {
	case err := <-rawDone:
		if ws.CloseStatus(err) != ws.StatusGoingAway {
			t.Errorf("raw client read %v, want close 1001", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("raw client did not get its close")
	}
}

// TestGatewayClosedIsGoingAway: when the gateway closes, at shutdown, every
// subscription is cut with shared.ErrGatewayClosed; clients are told 1001, not
// that the feed restarted.
func TestGatewayClosedIsGoingAway(t *testing.T) {
	f := start(t, nil, nil)
	c := f.dial(t, "", nil)
	_, done := reader(t, c)
	f.lab.Gateway.Close()
	select {
	case err := <-done:
		var ce ws.CloseError
		if !errors.As(err, &ce) || ce.Code != ws.StatusGoingAway || ce.Reason != "server shutting down" {
			t.Fatalf("read %v, want close 1001 \"server shutting down\"", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("client not closed when the gateway closed")
	}
}

// TestReplayStopsPromptlyAtShutdown resumes a client from a long history over
// a slow link and shuts the server down once the replay has begun: the client
// gets 1001 after the frames already in flight, not after the whole history.
//
// The link is slow only until the shutdown. The client reads one frame and
// stops, so the server's writes block on full socket buffers: the replay is
// certainly in progress when the shutdown comes. Then the server's send buffer
// opens up, so that the server hands its close frame to the kernel at once,
// instead of only as fast as this client reads: the server allows the close
// handshake a second (closeWait) before it cuts the TCP connection, and on a
// loaded machine a slow reader can take longer than that to get there.
//
// The write deadline is a minute, so it can never be what ends the session
// here; only the shutdown can, and the client allows it 10s, a clear margin
// under that. Promptness itself is in the count: the frames the client gets
// are those in flight when the shutdown came. The socket buffers, tiny from
// the first byte, hold a few KB, a few dozen frames: a tenth of the 5000 held
// is a clear margin above that, and far below the whole replay.
func TestReplayStopsPromptlyAtShutdown(t *testing.T) {
	lab := labtest.Start(t, nil)
	stats := lab.Metrics.Pattern("ws")
	opts := &websocket.Options{WriteTimeout: time.Minute}
	srv, conns, shutdown := serveTracked(t, websocket.Handler(lab.Gateway, stats, lab.Log, opts))
	held := lab.Publish(t, 5000)

	c, server := dialTinySendBuffer(t, srv, conns, "?since=0", true)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, data, err := c.Read(ctx); err != nil || !bytes.Equal(data, held[0].Raw) {
		t.Fatalf("first frame %s, %v; want %s", data, err, held[0].Raw)
	}
	shutdown()
	if err := server.SetWriteBuffer(1 << 20); err != nil {
		t.Fatal(err)
	}

	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	frames := 1
	for {
		_, _, err := c.Read(ctx)
		if err != nil {
			if ws.CloseStatus(err) != ws.StatusGoingAway {
				t.Fatalf("read %v after %d frames, want close 1001", err, frames)
			}
			break
		}
		frames++
	}
	if frames > len(held)/10 {
		t.Errorf("got %d of %d replayed frames before the close, want at most %d: the replay stops at shutdown", frames, len(held), len(held)/10)
	}
	t.Logf("replay stopped after %d of %d frames", frames, len(held))
}

// TestLongReplayOnASlowLinkIsNotCutOff resumes a client from a long history
// and lets live ticks overflow its queue while the replay waits on the
// client's link. The ticks the hub dropped are held, so the replay reads on
// from the history: the client gets every tick, and is not cut off.
func TestLongReplayOnASlowLinkIsNotCutOff(t *testing.T) {
	lab := labtest.Start(t, nil)
	stats := lab.Metrics.Pattern("ws")
	opts := &websocket.Options{QueueLen: 16, WriteTimeout: 10 * time.Second}
	srv, conns, _ := serveTracked(t, websocket.Handler(lab.Gateway, stats, lab.Log, opts))
	// More held ticks than the client's socket buffers take (about 600 KB):
	// the replay blocks until the client reads.
	want := lab.Publish(t, 8000)

	c, server := dialTinySendBuffer(t, srv, conns, "?since=0", false)
	// The replay is blocked on the client, which reads nothing yet; 50 live
	// ticks overflow its queue of 16, and the hub cuts the subscription.
	want = append(want, lab.Publish(t, 50)...)
	labtest.WaitFor(t, "the hub to cut the replaying client's subscription", func() bool { return lab.Gateway.Hub.Len() == 0 })
	if err := server.SetWriteBuffer(1 << 20); err != nil {
		t.Fatal(err)
	}
	readTicks(t, c, want)
	readTicks(t, c, lab.Publish(t, 5)) // and the stream is live

	if s := stats.Snapshot(); s.SlowDisconnects != 0 || s.Drops != 0 || s.Disconnects != 0 {
		t.Errorf("slow disconnects %d, drops %d, disconnects %d; want none", s.SlowDisconnects, s.Drops, s.Disconnects)
	}
}

// restartFeed starts a second feed on the lab's broker, as a feed process that
// restarted without its store would: a new epoch, seqs from 1 again. It
// publishes n ticks and waits until the gateway holds the last one.
func restartFeed(t *testing.T, lab *labtest.Lab, n int) (*shared.Feed, []shared.Tick) {
	t.Helper()
	feed, err := shared.NewFeed(lab.NC, labtest.Seed+1, shared.DefaultSymbols, 0)
	if err != nil {
		t.Fatal(err)
	}
	ticks := make([]shared.Tick, 0, n)
	for range n {
		tk, err := feed.Publish()
		if err != nil {
			t.Fatal(err)
		}
		ticks = append(ticks, tk)
	}
	last := ticks[n-1].Raw
	labtest.WaitFor(t, "the gateway to hold the new epoch's ticks", func() bool {
		newest := lab.Gateway.History.Newest()
		return newest != nil && bytes.Equal(newest.Raw, last)
	})
	return feed, ticks
}

// TestFeedRestartStartsTheNewEpochFromZero restarts the feed under a live
// client. Its seqs start over, so the client's place means nothing in the new
// epoch: the server says reset to 0 in the new epoch and closes with 1012, and
// the client reconnects with since=0 and gets the new epoch from its first tick.
func TestFeedRestartStartsTheNewEpochFromZero(t *testing.T) {
	t.Run("frames", func(t *testing.T) {
		f := start(t, nil, nil)
		f.lab.Publish(t, 3)
		c := f.dial(t, "", nil)
		readTicks(t, c, f.lab.Publish(t, 2))
		feed, _ := restartFeed(t, f.lab, 5)

		_, data := readFrame(t, c)
		var ctl shared.Control
		want := shared.Control{Op: shared.OpReset, Epoch: feed.Epoch(), Next: 0}
		if err := json.Unmarshal(data, &ctl); err != nil || ctl != want {
			t.Fatalf("got %s, want the reset control %+v", data, want)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _, err := c.Read(ctx)
		var ce ws.CloseError
		if !errors.As(err, &ce) || ce.Code != ws.StatusServiceRestart || ce.Reason != "feed restarted" {
			t.Fatalf("read %v, want close 1012 \"feed restarted\"", err)
		}
	})

	t.Run("Subscribe", func(t *testing.T) {
		f := start(t, nil, nil)
		first := f.lab.Publish(t, 1)[0]
		cst := new(shared.ClientStats)
		col, _ := subscribe(t, f.srv.URL, &websocket.ClientOptions{Since: first.Seq, Stats: cst})
		want := f.lab.Publish(t, 20)
		col.waitSeq(t, want[len(want)-1].Seq)

		_, fresh := restartFeed(t, f.lab, 5)
		want = append(want, fresh...) // seqs 2..21, then 1..5 of the new epoch
		col.waitLen(t, len(want))
		checkRun(t, col.snapshot(), want)
		checkNoGapNoDup(t, cst)
		if r, rc := cst.Resets.Load(), cst.Reconnects.Load(); r != 1 || rc != 1 {
			t.Errorf("Resets, Reconnects = %d, %d; want 1, 1", r, rc)
		}
	})
}

package websocket_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
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
	srv, conns := serveTracked(t, websocket.Handler(lab.Gateway, stats, lab.Log, opts))

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
	srv, conns := serveTracked(t, websocket.Handler(lab.Gateway, stats, lab.Log, opts))

	// A real WebSocket client with a tiny receive buffer, and the server's end
	// of it with a tiny send buffer: not reading soon blocks the server.
	local := make(chan string, 1)
	hc := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			local <- c.LocalAddr().String()
			return c, c.(*net.TCPConn).SetReadBuffer(1)
		},
	}}
	t.Cleanup(hc.CloseIdleConnections)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := ws.Dial(ctx, "ws"+srv.URL[len("http"):]+"/api/ws", &ws.DialOptions{HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.CloseNow() })
	if err := conns.get(t, <-local).SetWriteBuffer(1); err != nil {
		t.Fatal(err)
	}

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
	mu    sync.Mutex
	conns map[string]*net.TCPConn
}

func (l *trackedConns) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tcp, ok := c.(*net.TCPConn); ok {
		l.mu.Lock()
		l.conns[tcp.RemoteAddr().String()] = tcp
		l.mu.Unlock()
	}
	return c, err
}

func (l *trackedConns) get(t *testing.T, remote string) *net.TCPConn {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	c, ok := l.conns[remote]
	if !ok {
		t.Fatalf("no server connection from %s", remote)
	}
	return c
}

// serveTracked serves h as labtest.Serve does, through a trackedConns listener.
func serveTracked(t *testing.T, h http.Handler) (*httptest.Server, *trackedConns) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	srv := httptest.NewUnstartedServer(h)
	tracked := &trackedConns{Listener: srv.Listener, conns: make(map[string]*net.TCPConn)}
	srv.Listener = shared.CountingListener{Listener: tracked}
	srv.Config.ConnContext = shared.ConnContext
	srv.Config.BaseContext = func(net.Listener) context.Context { return ctx }
	srv.Start()
	t.Cleanup(func() {
		cancel()
		srv.Close()
	})
	return srv, tracked
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

package websocket_test

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ws "github.com/coder/websocket"

	"commlab/patterns/websocket"
	"commlab/shared"
	"commlab/shared/labtest"
)

// runSubscribe runs websocket.Subscribe until the returned stop is called
// (or the test ends); stop cancels it and returns what it returned.
func runSubscribe(t *testing.T, baseURL string, opts *websocket.ClientOptions) (done <-chan error, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan error, 1)
	go func() { ch <- websocket.Subscribe(ctx, baseURL, func(shared.Tick) {}, opts) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			err = <-ch
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return ch, stop
}

// TestSubscribeRetriesWhatMayPass: a proxy in front of the lab may answer
// 403, 404 or 502 while the server restarts; the client must keep trying.
func TestSubscribeRetriesWhatMayPass(t *testing.T) {
	for _, status := range []int{http.StatusForbidden, http.StatusNotFound, http.StatusBadGateway} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			t.Parallel()
			var hits atomic.Int64
			third := make(chan struct{})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if hits.Add(1) == 3 {
					close(third)
				}
				shared.WriteError(w, status, "not now")
			}))
			t.Cleanup(srv.Close)
			cst := new(shared.ClientStats)
			done, stop := runSubscribe(t, srv.URL, &websocket.ClientOptions{Stats: cst, HTTPClient: newHTTPClient(t)})
			select {
			case <-third:
			case err := <-done:
				t.Fatalf("Subscribe gave up after %d requests: %v", hits.Load(), err)
			case <-time.After(10 * time.Second):
				t.Fatalf("got %d requests, want 3", hits.Load())
			}
			if err := stop(); err != nil {
				t.Errorf("Subscribe returned %v after its ctx ended, want nil", err)
			}
			if got := cst.Requests.Load(); got < 3 {
				t.Errorf("client Requests = %d, want >= 3", got)
			}
		})
	}
}

// TestBackoffGrowsUntilAFrameArrives dials a server that accepts and at once
// closes, as a loaded server says "try again later". The handshake succeeds
// every time, but no frame ever arrives, so the backoff must keep growing:
// waits of up to 100, 200, 400, 800 ms..., about 5 dials in 1.5s. Reset after
// each successful dial, it would stay at 100 ms: about 30 dials.
func TestBackoffGrowsUntilAFrameArrives(t *testing.T) {
	for _, code := range []ws.StatusCode{ws.StatusTryAgainLater, ws.StatusServiceRestart} {
		t.Run(code.String(), func(t *testing.T) {
			t.Parallel()
			var dials atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				dials.Add(1)
				c, err := ws.Accept(w, r, nil)
				if err != nil {
					return
				}
				_ = c.Close(code, "go away")
			}))
			t.Cleanup(srv.Close)
			ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
			defer cancel()
			if err := websocket.Subscribe(ctx, srv.URL, func(shared.Tick) {}, &websocket.ClientOptions{HTTPClient: newHTTPClient(t)}); err != nil {
				t.Fatalf("Subscribe returned %v, want nil: %d is worth a retry", err, code)
			}
			// With full jitter, more than 10 dials happens about once in 200,000 runs.
			if n := dials.Load(); n < 2 || n > 10 {
				t.Errorf("got %d dials in 1.5s, want 2..10", n)
			}
		})
	}
}

func TestIdleTimeout(t *testing.T) {
	t.Run("pings keep a quiet connection", func(t *testing.T) {
		// The idle timeout is fifty ping intervals: the client drops the
		// connection only if no ping reaches it for a whole second, which on
		// a loaded machine a scheduling hiccup of a few hundred milliseconds
		// does not do. (With five intervals, one did.)
		f := start(t, &websocket.Options{PingInterval: 20 * time.Millisecond}, nil)
		cst := new(shared.ClientStats)
		subscribe(t, f.srv.URL, &websocket.ClientOptions{IdleTimeout: time.Second, Stats: cst})
		labtest.WaitFor(t, "the client to connect", func() bool { return f.stats.Clients.Load() == 1 })
		// No tick flows; only pings arrive, no more than one per 20 ms, each 3
		// to 5 bytes on the wire (a 2-byte header, and the library's counter
		// as the payload, below 1000 here): 500 bytes is at least 100 pings,
		// 2s, two idle timeouts.
		from := cst.Bytes.Load()
		labtest.WaitFor(t, "100 pings", func() bool { return cst.Bytes.Load() >= from+500 })
		if r, rc := cst.Requests.Load(), cst.Reconnects.Load(); r != 1 || rc != 0 {
			t.Errorf("Requests, Reconnects = %d, %d; want 1, 0: pings prove the server alive", r, rc)
		}
	})

	t.Run("a silent server is left", func(t *testing.T) {
		accepted := silentServer(t)
		cst := new(shared.ClientStats)
		_, stop := runSubscribe(t, "http://"+accepted.addr, &websocket.ClientOptions{IdleTimeout: 100 * time.Millisecond, Stats: cst, HTTPClient: newHTTPClient(t)})
		// The third handshake comes after the second connection was made,
		// counted as a reconnect, found silent and dropped.
		for i := range 3 {
			select {
			case <-accepted.conns:
			case <-time.After(10 * time.Second):
				t.Fatalf("got %d handshakes, want 3: the client stayed on a silent connection", i)
			}
		}
		if err := stop(); err != nil {
			t.Errorf("Subscribe returned %v, want nil", err)
		}
		if got := cst.Reconnects.Load(); got < 1 {
			t.Errorf("Reconnects = %d, want >= 1", got)
		}
	})
}

// silent is a server that completes the WebSocket handshake and then says
// nothing, ever: no frame, no ping, no close, as a server that lost power
// looks from the client.
type silent struct {
	addr  string
	conns chan struct{} // a value per completed handshake
}

func silentServer(t *testing.T) *silent {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &silent{addr: ln.Addr().String(), conns: make(chan struct{}, 100)}
	var (
		mu     sync.Mutex
		open   []net.Conn
		closed bool
		wg     sync.WaitGroup
	)
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return // the listener is closed: the test is over
			}
			mu.Lock()
			if closed {
				_ = c.Close()
			}
			open = append(open, c)
			mu.Unlock()
			req, err := http.ReadRequest(bufio.NewReader(c))
			if err != nil {
				continue
			}
			sum := sha1.Sum([]byte(req.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
			resp := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
				"Sec-WebSocket-Accept: " + base64.StdEncoding.EncodeToString(sum[:]) + "\r\n\r\n"
			if _, err := c.Write([]byte(resp)); err != nil {
				continue
			}
			s.conns <- struct{}{}
		}
	})
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		closed = true
		for _, c := range open {
			_ = c.Close() // also ends a ReadRequest in progress
		}
		mu.Unlock()
		wg.Wait()
	})
	return s
}

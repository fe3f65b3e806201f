package shared_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"commlab/shared"
)

// countingServer serves h the way the lab does (CountingListener + ConnContext)
// and signals on idle each time a connection has finished writing a response.
func countingServer(t *testing.T, h http.Handler) (srv *httptest.Server, idle <-chan struct{}) {
	t.Helper()
	idleC := make(chan struct{}, 64)
	srv = httptest.NewUnstartedServer(h)
	srv.Listener = shared.CountingListener{Listener: srv.Listener}
	srv.Config.ConnContext = shared.ConnContext
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		// net/http sets StateIdle after the response is flushed to the conn, so
		// every counted write has happened by then.
		if s == http.StateIdle || s == http.StateClosed {
			select {
			case idleC <- struct{}{}:
			default: // nobody waits for this many; never block the server
			}
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, idleC
}

// rawGet sends one HTTP/1.1 request on conn and reads the whole response with
// Connection: close, returning the exact bytes the server put on the wire.
func rawGet(t *testing.T, addr, path string) []byte {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(conn, "GET "+path+" HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(conn) // until the server closes: after its last counted write
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestCountWritesAsCountsEveryByteOnTheWire(t *testing.T) {
	tests := []struct {
		name    string
		handler func(w http.ResponseWriter)
	}{
		{"small JSON", func(w http.ResponseWriter) {
			shared.WriteJSON(w, http.StatusOK, map[string]int{"seq": 1})
		}},
		{"error body", func(w http.ResponseWriter) {
			shared.WriteError(w, http.StatusBadRequest, "since: not a number")
		}},
		{"no content", func(w http.ResponseWriter) { w.WriteHeader(http.StatusNoContent) }},
		{"chunked stream", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "text/event-stream")
			for i := range 50 {
				tk := shared.Tick{Seq: uint64(i + 1), Symbol: "ACME", Price: 1, TUs: 1}
				_, _ = w.Write(append(shared.AppendJSON([]byte("data: "), tk), '\n', '\n'))
				w.(http.Flusher).Flush()
			}
		}},
		{"large body", func(w http.ResponseWriter) {
			_, _ = io.WriteString(w, strings.Repeat("x", 1<<20))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var written atomic.Uint64
			srv, _ := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				shared.CountWritesAs(r, &written)
				tt.handler(w)
			}))
			got := rawGet(t, srv.Listener.Addr().String(), "/")
			if !strings.HasPrefix(string(got), "HTTP/1.1 ") {
				t.Fatalf("response starts %q, want a status line", got[:min(len(got), 20)])
			}
			if n := written.Load(); n != uint64(len(got)) {
				t.Errorf("counted %d bytes, want %d: what the client read", n, len(got))
			}
		})
	}
}

func TestCountWritesAsRepointsAKeptAliveConnection(t *testing.T) {
	var a, b atomic.Uint64
	mux := http.NewServeMux()
	mux.HandleFunc("/a", func(w http.ResponseWriter, r *http.Request) {
		shared.CountWritesAs(r, &a)
		_, _ = io.WriteString(w, "first pattern")
	})
	mux.HandleFunc("/b", func(w http.ResponseWriter, r *http.Request) {
		shared.CountWritesAs(r, &b)
		_, _ = io.WriteString(w, "second pattern, a longer body")
	})
	srv, idle := countingServer(t, mux)

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	var read atomic.Uint64
	br := bufio.NewReader(readCounter{conn, &read})

	if _, err := io.WriteString(conn, "GET /a HTTP/1.1\r\nHost: lab\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		t.Fatal(err)
	}
	<-idle // the server has finished writing /a
	first := read.Load()
	if got := a.Load(); got != first {
		t.Errorf("/a counted %d bytes, want %d", got, first)
	}

	if _, err := io.WriteString(conn, "GET /b HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, br); err != nil {
		t.Fatal(err)
	}
	second := read.Load() - first
	if got := b.Load(); got != second {
		t.Errorf("/b counted %d bytes, want %d", got, second)
	}
	if got := a.Load(); got != first {
		t.Errorf("/a counted %d bytes after /b, want still %d", got, first)
	}
}

type readCounter struct {
	r io.Reader
	n *atomic.Uint64
}

func (c readCounter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(uint64(n))
	return n, err
}

func TestCountWritesAsWithoutCountingListener(t *testing.T) {
	var written atomic.Uint64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		shared.CountWritesAs(r, &written) // no CountingListener: does nothing
		_, _ = io.WriteString(w, "ok")
	}))
	defer srv.Close()
	if got := rawGet(t, srv.Listener.Addr().String(), "/"); !strings.HasSuffix(string(got), "ok") {
		t.Fatalf("response %q, want body ok", got)
	}
	if got := written.Load(); got != 0 {
		t.Errorf("counted %d bytes without a CountingListener, want 0", got)
	}
}

func TestNewHTTPClientCountsBytesRead(t *testing.T) {
	var written atomic.Uint64
	var acceptEncoding atomic.Value
	srv, idle := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		shared.CountWritesAs(r, &written)
		acceptEncoding.Store(r.Header.Get("Accept-Encoding"))
		_, _ = io.WriteString(w, strings.Repeat("tick ", 1000))
	}))
	var stats shared.ClientStats
	c := shared.NewHTTPClient(&stats)
	defer c.CloseIdleConnections()

	for i := range 3 {
		resp, err := c.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(body) != 5000 {
			t.Fatalf("request %d: body %d bytes, want 5000", i, len(body))
		}
		<-idle
		if got, want := stats.Bytes.Load(), written.Load(); got != want {
			t.Errorf("after request %d: client read %d bytes, server wrote %d; want equal", i, got, want)
		}
	}
	if got := acceptEncoding.Load(); got != "" {
		t.Errorf("client sent Accept-Encoding %q, want none: compression would hide the payload size", got)
	}
}

func TestNewHTTPClientNilStats(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	defer srv.Close()
	c := shared.NewHTTPClient(nil)
	defer c.CloseIdleConnections()
	resp, err := c.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if b, err := io.ReadAll(resp.Body); err != nil || string(b) != "ok" {
		t.Errorf("got %q, %v; want ok", b, err)
	}
}

func TestWriteJSONAndError(t *testing.T) {
	tests := []struct {
		name       string
		write      func(http.ResponseWriter)
		wantStatus int
		wantBody   string
	}{
		{"json", func(w http.ResponseWriter) { shared.WriteJSON(w, http.StatusOK, map[string]any{"next": 5}) },
			http.StatusOK, `{"next":5}` + "\n"},
		{"error", func(w http.ResponseWriter) { shared.WriteError(w, http.StatusBadRequest, "limit: too large") },
			http.StatusBadRequest, `{"error":"limit: too large"}` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			tt.write(rec)
			if rec.Code != tt.wantStatus {
				t.Errorf("status %d, want %d", rec.Code, tt.wantStatus)
			}
			if got := rec.Body.String(); got != tt.wantBody {
				t.Errorf("body %q, want %q", got, tt.wantBody)
			}
			if got := rec.Header().Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type %q, want application/json", got)
			}
			if got := rec.Header().Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", got)
			}
		})
	}
}

// A handler finds the server's shutdown context and its connection's end
// through the request: what a hijacked WebSocket, which outlives its handler,
// goes by.
func TestShutdownOfAndConnClosed(t *testing.T) {
	type found struct {
		shutdown context.Context
		closed   <-chan struct{}
	}
	got := make(chan found, 1)
	base, stop := context.WithCancel(context.Background())
	defer stop()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		shutdown, ok1 := shared.ShutdownOf(r)
		closed, ok2 := shared.ConnClosed(r)
		if !ok1 || !ok2 {
			t.Errorf("ShutdownOf ok %v, ConnClosed ok %v; want both", ok1, ok2)
		}
		got <- found{shutdown, closed}
	}))
	srv.Listener = shared.CountingListener{Listener: srv.Listener}
	srv.Config.ConnContext = shared.ConnContext
	srv.Config.BaseContext = func(net.Listener) context.Context { return shared.WithShutdown(base) }
	srv.Start()
	defer srv.Close()

	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	f := <-got
	if f.shutdown.Err() != nil {
		t.Fatalf("the shutdown context ended with the request: %v", f.shutdown.Err())
	}
	srv.CloseClientConnections()
	select {
	case <-f.closed:
	case <-time.After(10 * time.Second):
		t.Fatal("ConnClosed's channel still open 10s after the connection was closed")
	}
	stop()
	if f.shutdown.Err() == nil {
		t.Error("the shutdown context did not end with the server's base context")
	}
}

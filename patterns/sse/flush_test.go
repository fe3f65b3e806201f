package sse

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"commlab/shared"
)

// writeCountingListener counts the writes made to the connections it accepts:
// each is one write system call.
type writeCountingListener struct {
	net.Listener
	writes atomic.Int64
}

func (l *writeCountingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &writeCountingConn{Conn: c, writes: &l.writes}, nil
}

type writeCountingConn struct {
	net.Conn
	writes *atomic.Int64
}

func (c *writeCountingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// The writer flushes an event at once unless the story has published more
// behind it; then the events leave together, at most maxHeldEvents to a write.
func TestFlushWaitsForEventsQueuedBehind(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	counted := &writeCountingListener{Listener: ln}
	type result struct{ writes, written int64 }
	results := make(chan result, 1)

	// The handler writes n events as r3labs does (fields, blank line, flush),
	// with queued of them published when the first is written.
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		queued, _ := strconv.Atoi(r.URL.Query().Get("queued"))
		c := &conn{
			rc:       http.NewResponseController(rw),
			deadline: shared.WriteDeadline{Timeout: 5 * time.Second},
			cancel:   func(error) {},
			ready:    make(chan struct{}),
			flushed:  make(chan struct{}, 1),
			log:      slog.New(slog.DiscardHandler),
		}
		w := &writer{ResponseWriter: rw, c: c}
		w.WriteHeader(http.StatusOK)
		w.Flush()
		before := counted.writes.Load()
		for i := range n {
			if c.published.Load() == c.written.Load()+w.held {
				c.published.Add(int64(queued)) // the story hands over the next batch
			}
			fmt.Fprintf(w, "id: %d\n", i)
			fmt.Fprintf(w, "data: {}\n\n")
			w.Flush()
		}
		results <- result{counted.writes.Load() - before, c.written.Load()}
	}))
	srv.Listener = counted
	srv.Start()
	t.Cleanup(srv.Close)

	for _, tc := range []struct {
		name      string
		n, queued int
		want      int64
	}{
		{"one at a time: each event at once", 5, 1, 5},
		{"five queued: one write", 5, 5, 1},
		{"twenty queued: capped at maxHeldEvents a write", 20, 20, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := http.Get(fmt.Sprintf("%s/?n=%d&queued=%d", srv.URL, tc.n, tc.queued))
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			got := <-results
			if got.writes != tc.want {
				t.Errorf("got %d writes for %d events, want %d", got.writes, tc.n, tc.want)
			}
			if got.written != int64(tc.n) {
				t.Errorf("written: got %d, want %d (every event counted once flushed)", got.written, tc.n)
			}
			if events := strings.Count(string(body), "data: "); events != tc.n {
				t.Errorf("the client got %d events, want %d", events, tc.n)
			}
		})
	}
}

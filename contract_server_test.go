package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	ws "github.com/coder/websocket"
)

// contractServer is a second, independent implementation of the lab's HTTP
// contract (README.md, "The contract"), as a learner might write one in an
// afternoon: its own feed, every tick kept in a slice, and a channel closed
// whenever a tick is added to wake whoever waits. It has no NATS, no /metrics and no /api/rate,
// so bench must measure it through the contract alone and say what it cannot.
// It answers a POST with 501, as a server on Python's http.server does.
type contractServer struct {
	mu    sync.Mutex
	ticks [][]byte      // ticks[i] is the JSON of seq i+1
	grew  chan struct{} // closed, and replaced, when a tick is added
}

// startContractServer serves the contract on a free port with a feed of one
// tick every interval, until the test ends.
func startContractServer(t *testing.T, interval time.Duration) string {
	t.Helper()
	s := &contractServer{grew: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup // the feed and the WebSocket handlers, which Close does not wait for
	wg.Go(func() { s.feed(ctx, interval) })
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/info", s.handleInfo)
	mux.HandleFunc("GET /api/poll", s.handlePoll)
	mux.HandleFunc("GET /api/sse", s.handleSSE)
	mux.HandleFunc("GET /api/ws", func(w http.ResponseWriter, r *http.Request) {
		wg.Add(1)
		defer wg.Done()
		s.handleWS(w, r)
	})
	// Any other method gets 501, as from Python's http.server without a do_POST.
	mux.HandleFunc("POST /", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "Unsupported method ('POST')", http.StatusNotImplemented)
	})
	srv := httptest.NewUnstartedServer(mux)
	srv.Config.BaseContext = func(net.Listener) context.Context { return ctx }
	srv.Start()
	t.Cleanup(func() {
		cancel()
		srv.Close()
		wg.Wait()
	})
	return srv.URL
}

func (s *contractServer) feed(ctx context.Context, interval time.Duration) {
	every := time.NewTicker(interval)
	defer every.Stop()
	symbols := []string{"ACME", "GLOBX", "INITECH"}
	for seq := 1; ; seq++ {
		select {
		case <-ctx.Done():
			return
		case now := <-every.C:
			tick := fmt.Sprintf(`{"seq":%d,"symbol":%q,"price":%.2f,"t_us":%d}`,
				seq, symbols[seq%len(symbols)], 100+float64(seq%50)/4, now.UnixMicro())
			s.mu.Lock()
			s.ticks = append(s.ticks, []byte(tick))
			close(s.grew)
			s.grew = make(chan struct{})
			s.mu.Unlock()
		}
	}
}

// after returns the ticks after seq (at most limit), the last seq there is,
// and a channel that is closed when there are more.
func (s *contractServer) after(seq, limit int) (ticks [][]byte, last int, grew <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if seq < len(s.ticks) {
		ticks = s.ticks[seq:min(len(s.ticks), seq+limit)]
	}
	return ticks, len(s.ticks), s.grew
}

func (s *contractServer) handleInfo(w http.ResponseWriter, r *http.Request) {
	_, last, _ := s.after(0, 0)
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"version":"contract-test","epoch":"E1","last_seq":%d,"history":1000000,"patterns":{}}`, last)
}

// since is the seq a request resumes after: its Last-Event-ID or ?since,
// else the newest tick (live ticks only).
func since(r *http.Request) (int, bool) {
	v := r.Header.Get("Last-Event-ID")
	if v == "" {
		v = r.URL.Query().Get("since")
	}
	n, err := strconv.Atoi(v)
	return n, err == nil && n >= 0
}

func (s *contractServer) handlePoll(w http.ResponseWriter, r *http.Request) {
	seq, ok := since(r)
	wait, _ := time.ParseDuration(r.URL.Query().Get("wait"))
	ticks, last, grew := s.after(seq, 500)
	switch {
	case !ok: // no since: the newest tick alone, the client's starting point
		ticks, _, _ = s.after(max(last-1, 0), 1)
	case len(ticks) == 0 && wait > 0:
		select {
		case <-grew:
		case <-time.After(wait):
		case <-r.Context().Done():
		}
		ticks, _, _ = s.after(seq, 500)
	}
	next := seq
	if len(ticks) > 0 {
		var t struct{ Seq int }
		_ = json.Unmarshal(ticks[len(ticks)-1], &t)
		next = t.Seq
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"ticks":[%s],"next":%d,"reset":false}`, joinTicks(ticks), next)
}

func joinTicks(ticks [][]byte) string {
	parts := make([]string, len(ticks))
	for i, t := range ticks {
		parts[i] = string(t)
	}
	return strings.Join(parts, ",")
}

func (s *contractServer) handleSSE(w http.ResponseWriter, r *http.Request) {
	seq, ok := since(r)
	if !ok {
		_, seq, _ = s.after(0, 0)
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	for {
		ticks, _, grew := s.after(seq, 500)
		for _, t := range ticks {
			seq++
			fmt.Fprintf(w, "id: %d\nevent: tick\ndata: %s\n\n", seq, t)
		}
		if err := http.NewResponseController(w).Flush(); err != nil {
			return
		}
		select {
		case <-grew:
		case <-r.Context().Done():
			return
		}
	}
}

func (s *contractServer) handleWS(w http.ResponseWriter, r *http.Request) {
	seq, ok := since(r)
	if !ok {
		_, seq, _ = s.after(0, 0)
	}
	c, err := ws.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer c.CloseNow()
	ctx := c.CloseRead(r.Context()) // ends when the client closes
	for {
		ticks, _, grew := s.after(seq, 500)
		for _, t := range ticks {
			wctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err := c.Write(wctx, ws.MessageText, t)
			cancel()
			if err != nil {
				return
			}
			seq++
		}
		select {
		case <-grew:
		case <-ctx.Done():
			c.Close(ws.StatusGoingAway, "bye")
			return
		}
	}
}

package sse

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"commlab/shared"
	"commlab/shared/labtest"
)

// start runs a lab (NATS, feed, gateway) and the SSE handler on a loopback
// server. shutdown cancels the handlers' base context, as SIGINT does.
func start(t *testing.T, labOpts *labtest.Options, opts *Options) (lab *labtest.Lab, stats *shared.PatternStats, srv *httptest.Server, shutdown context.CancelFunc) {
	t.Helper()
	lab = labtest.Start(t, labOpts)
	stats = lab.Metrics.Pattern("sse")
	srv, shutdown = labtest.Serve(t, Handler(lab.Gateway, stats, lab.Log, opts))
	return lab, stats, srv, shutdown
}

// collector runs Subscribe and keeps what fn receives.
type collector struct {
	stats *shared.ClientStats
	wake  chan struct{} // signalled after every tick; shared by collectors waited on together
	last  atomic.Uint64
	stop  func() error // cancels Subscribe and returns what it returned

	mu    sync.Mutex
	ticks []shared.Tick
}

func subscribe(t *testing.T, baseURL string, opts *ClientOptions, wake chan struct{}) *collector {
	t.Helper()
	if opts == nil {
		opts = &ClientOptions{}
	}
	if opts.Stats == nil {
		opts.Stats = new(shared.ClientStats)
	}
	if wake == nil {
		wake = make(chan struct{}, 1)
	}
	c := &collector{stats: opts.Stats, wake: wake}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Subscribe(ctx, baseURL, c.add, opts) }()
	var once sync.Once
	var err error
	c.stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(5 * time.Second):
				err = errors.New("Subscribe did not return within 5s of its context ending")
			}
		})
		return err
	}
	t.Cleanup(func() {
		if err := c.stop(); err != nil {
			t.Errorf("Subscribe returned %v, want nil", err)
		}
	})
	return c
}

func (c *collector) add(t shared.Tick) {
	c.mu.Lock()
	c.ticks = append(c.ticks, t)
	c.mu.Unlock()
	c.last.Store(t.Seq)
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *collector) received() []shared.Tick {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.ticks)
}

// waitSeq waits until every collector has delivered seq. Collectors waited on
// together must share one wake channel.
func waitSeq(t *testing.T, seq uint64, cs ...*collector) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		behind := 0
		for _, c := range cs {
			if c.last.Load() < seq {
				behind++
			}
		}
		if behind == 0 {
			return
		}
		select {
		case <-cs[0].wake:
		case <-deadline:
			t.Fatalf("%d of %d clients did not reach seq %d", behind, len(cs), seq)
		}
	}
}

// waitCount waits until c has delivered n ticks: for a feed restart, where
// seqs go back to 1 and waitSeq cannot tell old from new.
func waitCount(t *testing.T, n int, c *collector) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		got := len(c.received())
		if got >= n {
			return
		}
		select {
		case <-c.wake:
		case <-deadline:
			t.Fatalf("client delivered %d ticks, want %d", got, n)
		}
	}
}

// checkTicks checks that got is exactly want: same seqs, same bytes.
func checkTicks(t *testing.T, got, want []shared.Tick) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d ticks, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].Seq != want[i].Seq {
			t.Fatalf("tick %d: got seq %d, want %d", i, got[i].Seq, want[i].Seq)
		}
		if !bytes.Equal(got[i].Raw, want[i].Raw) {
			t.Fatalf("seq %d: got Raw %s, want the feed's %s", want[i].Seq, got[i].Raw, want[i].Raw)
		}
	}
}

func checkClean(t *testing.T, s *shared.ClientStats) {
	t.Helper()
	if g, d := s.Gaps.Load(), s.Dups.Load(); g != 0 || d != 0 {
		t.Errorf("got %d gaps and %d dups, want none", g, d)
	}
}

// get opens a raw stream with a plain HTTP client. Its Timeout only keeps a
// broken test from hanging.
func get(t *testing.T, url string, header http.Header) *http.Response {
	t.Helper()
	hc := &http.Client{Timeout: 20 * time.Second}
	t.Cleanup(hc.CloseIdleConnections)
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if header != nil {
		req.Header = header
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func nextEvent(t *testing.T, rd *eventReader) event {
	t.Helper()
	ev, err := rd.next()
	if err != nil {
		t.Fatalf("reading the stream: %v", err)
	}
	return ev
}

// expectTicks reads one event per tick in want and checks each.
func expectTicks(t *testing.T, rd *eventReader, want []shared.Tick) {
	t.Helper()
	for _, w := range want {
		ev := nextEvent(t, rd)
		if ev.Type != "tick" || ev.ID != strconv.FormatUint(w.Seq, 10) || !bytes.Equal(ev.Data, w.Raw) {
			t.Fatalf("got event %s id %s data %s, want tick id %d data %s", ev.Type, ev.ID, ev.Data, w.Seq, w.Raw)
		}
	}
}

func TestSubscribeDeliversEveryTickOnce(t *testing.T) {
	cases := []struct {
		name   string
		resume bool
	}{
		{"resuming after a seq", true},
		{"live only", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			lab, stats, srv, _ := start(t, nil, nil)
			opts := &ClientOptions{}
			if tc.resume {
				opts.Since = lab.Publish(t, 3)[2].Seq
			}
			c := subscribe(t, srv.URL, opts, nil)
			if !tc.resume {
				// A live-only stream starts when its pump subscribes to the hub.
				labtest.WaitFor(t, "the stream to subscribe", func() bool { return lab.Gateway.Hub.Len() == 1 })
			}

			published := lab.Publish(t, 100)
			waitSeq(t, published[len(published)-1].Seq, c)

			checkTicks(t, c.received(), published)
			checkClean(t, c.stats)
			if got := c.stats.Requests.Load(); got != 1 {
				t.Errorf("got %d requests, want 1", got)
			}
			if got := stats.Messages.Load(); got != 100 {
				t.Errorf("server counted %d messages, want 100", got)
			}
			if got := stats.Clients.Load(); got != 1 {
				t.Errorf("server counted %d clients, want 1", got)
			}
		})
	}
}

func TestWireFormat(t *testing.T) {
	lab, _, srv, _ := start(t, nil, nil)
	tick := lab.Publish(t, 1)[0]

	resp := get(t, fmt.Sprintf("%s/api/sse?since=%d", srv.URL, tick.Seq-1), nil)
	for header, want := range map[string]string{
		"Content-Type":      "text/event-stream",
		"Cache-Control":     "no-cache",
		"X-Accel-Buffering": "no",
	} {
		if got := resp.Header.Get(header); got != want {
			t.Errorf("got %s %q, want %q", header, got, want)
		}
	}

	// One event: its lines up to the blank line. Their order is free.
	br := bufio.NewReader(resp.Body)
	var lines []string
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the stream: %v (so far %q)", err, lines)
		}
		if line == "\n" {
			break
		}
		lines = append(lines, line)
	}
	want := []string{
		fmt.Sprintf("id: %d\n", tick.Seq),
		"event: tick\n",
		"data: " + string(tick.Raw) + "\n",
	}
	slices.Sort(lines)
	slices.Sort(want)
	if !slices.Equal(lines, want) {
		t.Errorf("got lines %q, want %q", lines, want)
	}
}

func TestResumeAfterDroppedConnection(t *testing.T) {
	lab, stats, srv, _ := start(t, nil, nil)
	since := lab.Publish(t, 1)[0].Seq

	cstats := new(shared.ClientStats)
	var dropper labtest.Dropper
	hc := dropper.Wrap(shared.NewHTTPClient(cstats))
	t.Cleanup(hc.CloseIdleConnections)
	c := subscribe(t, srv.URL, &ClientOptions{Since: since, HTTPClient: hc, Stats: cstats}, nil)

	first := lab.Publish(t, 100)
	waitSeq(t, first[49].Seq, c)
	if n := dropper.DropAll(); n == 0 {
		t.Fatal("no connection to drop")
	}
	second := lab.Publish(t, 100) // while the client reconnects
	waitSeq(t, second[len(second)-1].Seq, c)

	checkTicks(t, c.received(), append(first, second...))
	checkClean(t, cstats)
	if got := cstats.Reconnects.Load(); got < 1 {
		t.Errorf("got %d reconnects, want at least 1", got)
	}
	labtest.WaitFor(t, "the server to see the dropped stream end", func() bool { return stats.Disconnects.Load() >= 1 })
}

func TestLastEventIDResume(t *testing.T) {
	lab, _, srv, _ := start(t, nil, nil)
	all := lab.Publish(t, 10)
	seq := func(i int) string { return strconv.FormatUint(all[i].Seq, 10) }

	cases := []struct {
		name        string
		query       string
		lastEventID string
		after       int // index of the last tick the client has
	}{
		{"Last-Event-ID", "", seq(3), 3},
		{"since", "?since=" + seq(5), "", 5},
		{"Last-Event-ID wins over since", "?since=" + seq(1), seq(6), 6},
		{"since 0 means all held", "?since=0", "", -1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.lastEventID != "" {
				h.Set("Last-Event-ID", tc.lastEventID)
			}
			rd := newEventReader(get(t, srv.URL+"/api/sse"+tc.query, h).Body)
			expectTicks(t, rd, all[tc.after+1:])
			// Nothing else was queued: the next event is the next new tick.
			next := lab.Publish(t, 1)
			expectTicks(t, rd, next)
			all = append(all, next...)
		})
	}
}

func TestResetWhenSinceIsOlderThanHistory(t *testing.T) {
	lab, _, srv, _ := start(t, &labtest.Options{History: 100}, nil)
	ticks := lab.Publish(t, 150) // seqs 1..150; 51..150 held
	held := ticks[50:]
	next := held[0].Seq - 1

	t.Run("raw stream", func(t *testing.T) {
		rd := newEventReader(get(t, srv.URL+"/api/sse?since=10", nil).Body)
		ev := nextEvent(t, rd)
		wantData := fmt.Sprintf(`{"op":"reset","epoch":%q,"next":%d}`, lab.Gateway.Epoch(), next)
		if ev.Type != "reset" || ev.ID != strconv.FormatUint(next, 10) || string(ev.Data) != wantData {
			t.Fatalf("got event %s id %q data %s, want reset id %d data %s", ev.Type, ev.ID, ev.Data, next, wantData)
		}
		expectTicks(t, rd, held)
	})
	t.Run("Subscribe", func(t *testing.T) {
		c := subscribe(t, srv.URL, &ClientOptions{Since: 10}, nil)
		waitSeq(t, held[len(held)-1].Seq, c)
		checkTicks(t, c.received(), held)
		if got := c.stats.Resets.Load(); got != 1 {
			t.Errorf("got %d resets, want 1", got)
		}
		if got, want := c.stats.Gaps.Load(), next-10; got != want {
			t.Errorf("got %d gaps, want %d (seqs 11..%d are gone)", got, want, next)
		}
	})
}

// A resume from far back replays thousands of ticks through a short queue, at
// the client's pace: the client is cut off neither during the replay nor when
// the live ticks take over.
func TestLongReplayIsPaced(t *testing.T) {
	const queueLen = 16
	lab, stats, srv, _ := start(t, nil, &Options{QueueLen: queueLen})
	since := lab.Publish(t, 1)[0].Seq
	want := lab.Publish(t, 3000)
	c := subscribe(t, srv.URL, &ClientOptions{Since: since}, nil)
	// Live ticks keep coming during the replay: more than the pump's hub
	// subscription holds, so the hub may cut it off, and the pump must pick
	// them up from the history instead.
	for range 25 {
		want = append(want, lab.Publish(t, queueLen/4)...)
	}
	waitSeq(t, want[len(want)-1].Seq, c)

	checkTicks(t, c.received(), want)
	checkClean(t, c.stats)
	if got := stats.SlowDisconnects.Load(); got != 0 {
		t.Errorf("got %d slow disconnects, want 0", got)
	}
	if got := c.stats.Reconnects.Load(); got != 0 {
		t.Errorf("got %d reconnects, want 0", got)
	}
}

func TestHeartbeat(t *testing.T) {
	_, _, srv, _ := start(t, nil, &Options{Heartbeat: 20 * time.Millisecond})
	br := bufio.NewReader(get(t, srv.URL+"/api/sse", nil).Body)
	for _, want := range []string{": heartbeat\n", "\n"} {
		got, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the stream: %v", err)
		}
		if got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
}

func TestSubscribeReopensSilentConnection(t *testing.T) {
	_, stats, srv, _ := start(t, nil, &Options{Heartbeat: time.Hour})
	c := subscribe(t, srv.URL, &ClientOptions{IdleTimeout: 50 * time.Millisecond}, nil)
	labtest.WaitFor(t, "the client to reconnect", func() bool { return c.stats.Reconnects.Load() >= 1 })
	labtest.WaitFor(t, "the server to see a second stream", func() bool { return stats.Connections.Load() >= 2 })
}

func TestSubscribeRetriesServerErrors(t *testing.T) {
	lab := labtest.Start(t, nil)
	h := Handler(lab.Gateway, lab.Metrics.Pattern("sse"), lab.Log, nil)
	var requests atomic.Int64
	srv, _ := labtest.Serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if requests.Add(1) <= 2 {
			shared.WriteError(w, http.StatusServiceUnavailable, "not yet")
			return
		}
		h.ServeHTTP(w, r)
	}))
	since := lab.Publish(t, 1)[0].Seq
	c := subscribe(t, srv.URL, &ClientOptions{Since: since}, nil)
	published := lab.Publish(t, 5)
	waitSeq(t, published[len(published)-1].Seq, c)
	checkTicks(t, c.received(), published)
	if got := c.stats.Requests.Load(); got != 3 {
		t.Errorf("got %d requests, want 3 (two 503s, then the stream)", got)
	}
	if got := c.stats.Reconnects.Load(); got != 0 {
		t.Errorf("got %d reconnects, want 0: no stream had been established before", got)
	}
}

// Only a 400 says that our request is malformed. Every other answer that is not
// an event stream is retried, as a proxy's during a deploy would be, and each
// failed attempt is logged at Info with its status.
func TestSubscribeRetriesAnswersThatAreNotStreams(t *testing.T) {
	cases := []struct {
		name   string
		status int
		answer http.HandlerFunc
	}{
		{"404", http.StatusNotFound, http.NotFound},
		{"403", http.StatusForbidden, func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "forbidden", http.StatusForbidden)
		}},
		{"502 from a proxy", http.StatusBadGateway, func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "<html>bad gateway</html>", http.StatusBadGateway)
		}},
		{"200 but not an event stream", http.StatusOK, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprintln(w, "<h1>maintenance</h1>")
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			lab := labtest.Start(t, nil)
			h := Handler(lab.Gateway, lab.Metrics.Pattern("sse"), lab.Log, nil)
			var requests atomic.Int64
			srv, _ := labtest.Serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if requests.Add(1) <= 2 {
					tc.answer(w, r)
					return
				}
				h.ServeHTTP(w, r)
			}))
			since := lab.Publish(t, 1)[0].Seq
			var logs logBuffer
			c := subscribe(t, srv.URL, &ClientOptions{Since: since, Log: slog.New(slog.NewTextHandler(&logs, nil))}, nil)
			published := lab.Publish(t, 5)
			waitSeq(t, published[len(published)-1].Seq, c)

			checkTicks(t, c.received(), published)
			if got := c.stats.Requests.Load(); got != 3 {
				t.Errorf("got %d requests, want 3 (two refused, then the stream)", got)
			}
			want := fmt.Sprintf("status=%d", tc.status)
			failed := 0
			for line := range strings.Lines(logs.String()) {
				if strings.Contains(line, "level=INFO") && strings.Contains(line, `msg="connect failed"`) && strings.Contains(line, want) {
					failed++
				}
			}
			if failed != 2 {
				t.Errorf("got %d Info lines \"connect failed\" with %s, want 2; log:\n%s", failed, want, logs.String())
			}
		})
	}
}

func TestSubscribeStopsOnBadRequest(t *testing.T) {
	var requests atomic.Int64
	srv, _ := labtest.Serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		shared.WriteError(w, http.StatusBadRequest, "since must be a tick seq")
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := Subscribe(ctx, srv.URL, func(shared.Tick) {}, nil)
	if !errors.Is(err, ErrRejected) {
		t.Fatalf("got %v, want an error wrapping ErrRejected", err)
	}
	if !strings.Contains(err.Error(), "since must be a tick seq") {
		t.Errorf("got %q, want the server's message in it", err)
	}
	if got := requests.Load(); got != 1 {
		t.Errorf("got %d requests, want 1: a 400 is not retried", got)
	}
}

// logBuffer collects log output written from several goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func TestShutdownEndsStreams(t *testing.T) {
	lab, stats, srv, shutdown := start(t, nil, nil)
	since := lab.Publish(t, 1)[0].Seq
	c := subscribe(t, srv.URL, &ClientOptions{Since: since}, nil)
	raw := get(t, srv.URL+"/api/sse", nil)
	labtest.WaitFor(t, "two open streams", func() bool { return stats.Clients.Load() == 2 })
	waitSeq(t, lab.Publish(t, 1)[0].Seq, c)

	shutdown()
	ended := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, raw.Body)
		ended <- err
	}()
	select {
	case err := <-ended:
		if err != nil {
			t.Errorf("got %v at the end of the stream, want a clean end", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("stream still open 5s after shutdown")
	}
	labtest.WaitFor(t, "every handler to return", func() bool { return stats.Clients.Load() == 0 })
	if got := stats.Disconnects.Load(); got != 2 {
		t.Errorf("got %d disconnects, want 2", got)
	}
	// The client tries again (and is asked to retry later) until it is
	// stopped; then Subscribe returns nil.
	labtest.WaitFor(t, "the client to retry", func() bool { return c.stats.Requests.Load() >= 2 })
	if err := c.stop(); err != nil {
		t.Errorf("Subscribe returned %v, want nil", err)
	}
}

// A request that arrives during shutdown gets an event stream that asks for a
// reconnect in 2s and ends at once. An error status would make a browser's
// EventSource give up for good.
func TestShutdownAsksNewClientsToRetry(t *testing.T) {
	_, stats, srv, shutdown := start(t, nil, nil)
	shutdown()
	resp := get(t, srv.URL+"/api/sse", nil)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("got status %d, want 200", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("got Content-Type %q, want text/event-stream", ct)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("got %v reading the body, want a clean end", err)
	}
	if string(body) != "retry: 2000\n\n" {
		t.Errorf("got body %q, want %q", body, "retry: 2000\n\n")
	}
	rd := newEventReader(bytes.NewReader(body))
	if _, err := rd.next(); !errors.Is(err, io.EOF) || rd.retry != 2*time.Second {
		t.Errorf("reader got %v and retry %v, want io.EOF and 2s", err, rd.retry)
	}
	if got := stats.Connections.Load(); got != 0 {
		t.Errorf("got %d connections, want 0: no stream was opened", got)
	}
}

func TestBadInput(t *testing.T) {
	lab, stats, srv, _ := start(t, nil, nil)
	cases := []struct {
		name, method, query, lastEventID string
		wantStatus                       int
		reason                           string
	}{
		{"since not a number", http.MethodGet, "?since=abc", "", http.StatusBadRequest, "since"},
		{"since negative", http.MethodGet, "?since=-1", "", http.StatusBadRequest, "since"},
		{"since a fraction", http.MethodGet, "?since=1.5", "", http.StatusBadRequest, "since"},
		{"since empty", http.MethodGet, "?since=", "", http.StatusBadRequest, "since"},
		{"since beyond uint64", http.MethodGet, "?since=18446744073709551616", "", http.StatusBadRequest, "since"},
		{"since badly encoded", http.MethodGet, "?since=%zz", "", http.StatusBadRequest, "query"},
		{"another pair badly encoded", http.MethodGet, "?since=1&x=%zz", "", http.StatusBadRequest, "query"},
		{"since bad, Last-Event-ID good", http.MethodGet, "?since=x", "5", http.StatusBadRequest, "since"},
		{"Last-Event-ID not a number", http.MethodGet, "", "abc", http.StatusBadRequest, "last_event_id"},
		{"Last-Event-ID negative", http.MethodGet, "", "-5", http.StatusBadRequest, "last_event_id"},
		{"Last-Event-ID bad, since good", http.MethodGet, "?since=3", "x", http.StatusBadRequest, "last_event_id"},
		{"POST", http.MethodPost, "", "", http.StatusMethodNotAllowed, "method"},
		{"DELETE", http.MethodDelete, "", "", http.StatusMethodNotAllowed, "method"},
	}
	hc := &http.Client{Timeout: 10 * time.Second}
	t.Cleanup(hc.CloseIdleConnections)
	wantCounts := map[string]int{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, srv.URL+"/api/sse"+tc.query, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.lastEventID != "" {
				req.Header.Set("Last-Event-ID", tc.lastEventID)
			}
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tc.wantStatus {
				t.Errorf("got status %d, want %d", resp.StatusCode, tc.wantStatus)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("got Content-Type %q, want application/json", ct)
			}
			var body struct {
				Error string `json:"error"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Error == "" {
				t.Errorf(`got body error %q (decode: %v), want {"error": "..."}`, body.Error, err)
			}
		})
		wantCounts[tc.reason]++
	}

	if got, want := stats.BadInput.Load(), uint64(len(cases)); got != want {
		t.Errorf("got BadInput %d, want %d", got, want)
	}
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(lab.Metrics.Registry, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	for reason, n := range wantCounts {
		want := fmt.Sprintf(`commlab_bad_input_total{pattern="sse",reason=%q} %d`, reason, n)
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// Nothing broke: a good request still gets its stream.
	tick := lab.Publish(t, 1)[0]
	expectTicks(t, newEventReader(get(t, fmt.Sprintf("%s/api/sse?since=%d", srv.URL, tick.Seq-1), nil).Body), []shared.Tick{tick})
}

// A client from before a feed restart can be ahead of the feed. It is told to
// start over from the newest tick. (The id is beyond int64, which r3labs would
// have refused with a text/plain 400: it never sees the header.)
func TestResetWhenLastEventIDIsAheadOfTheFeed(t *testing.T) {
	lab, _, srv, _ := start(t, nil, nil)
	newest := lab.Publish(t, 5)[4].Seq
	h := http.Header{}
	h.Set("Last-Event-ID", "18446744073709551615")
	rd := newEventReader(get(t, srv.URL+"/api/sse", h).Body)

	ev := nextEvent(t, rd)
	wantData := fmt.Sprintf(`{"op":"reset","epoch":%q,"next":%d}`, lab.Gateway.Epoch(), newest)
	if ev.Type != "reset" || ev.ID != strconv.FormatUint(newest, 10) || string(ev.Data) != wantData {
		t.Fatalf("got event %s id %q data %s, want reset id %d data %s", ev.Type, ev.ID, ev.Data, newest, wantData)
	}
	expectTicks(t, rd, lab.Publish(t, 1))
}

// When the feed restarts under a new epoch, seqs start again at 1. Each stream
// ends with a reset to the new epoch (id 0, next 0), so the client's reconnect
// asks for the new epoch's ticks from the first one: none is missed.
func TestFeedRestartMovesClientsToTheNewEpoch(t *testing.T) {
	lab, _, srv, _ := start(t, nil, nil)
	since := lab.Publish(t, 1)[0].Seq
	c := subscribe(t, srv.URL, &ClientOptions{Since: since}, nil)
	raw := newEventReader(get(t, fmt.Sprintf("%s/api/sse?since=%d", srv.URL, since), nil).Body)
	before := lab.Publish(t, 5)
	waitSeq(t, before[len(before)-1].Seq, c)
	expectTicks(t, raw, before)

	// A second feed on the same NATS is a restarted feed: new epoch, seq 1.
	restarted, err := shared.NewFeed(lab.NC, labtest.Seed, shared.DefaultSymbols, 0)
	if err != nil {
		t.Fatal(err)
	}
	var after []shared.Tick
	for range 3 {
		tick, err := restarted.Publish()
		if err != nil {
			t.Fatal(err)
		}
		after = append(after, tick)
	}

	t.Run("raw stream", func(t *testing.T) {
		ev := nextEvent(t, raw)
		wantData := fmt.Sprintf(`{"op":"reset","epoch":%q,"next":0}`, restarted.Epoch())
		if ev.Type != "reset" || ev.ID != "0" || string(ev.Data) != wantData {
			t.Fatalf("got event %s id %q data %s, want reset id 0 data %s", ev.Type, ev.ID, ev.Data, wantData)
		}
		if ev, err := raw.next(); !errors.Is(err, io.EOF) {
			t.Fatalf("got event %s %s and %v after the reset, want the end of the stream", ev.Type, ev.Data, err)
		}
		// The browser reconnects with the id of the reset.
		labtest.WaitFor(t, "the gateway to hold the new epoch's ticks", func() bool {
			return lab.Gateway.Epoch() == restarted.Epoch() && lab.Gateway.History.Last() == after[len(after)-1].Seq
		})
		h := http.Header{}
		h.Set("Last-Event-ID", ev.ID)
		expectTicks(t, newEventReader(get(t, srv.URL+"/api/sse", h).Body), after)
	})
	t.Run("Subscribe", func(t *testing.T) {
		want := append(slices.Clone(before), after...)
		waitCount(t, len(want), c)
		checkTicks(t, c.received(), want)
		checkClean(t, c.stats)
		if got := c.stats.Resets.Load(); got != 1 {
			t.Errorf("got %d resets, want 1", got)
		}
	})
}

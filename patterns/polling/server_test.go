package polling

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"commlab/shared/labtest"
)

// TestHandlerPages checks every answer /api/poll gives to good requests, byte for
// byte, with a history of 100 ticks after 150 were published (seq 51..150 held).
func TestHandlerPages(t *testing.T) {
	tl := startLab(t, &labtest.Options{History: 100})

	// Before the first tick there is nothing, and next 0 is where to start.
	for _, query := range []string{"", "since=0", "since=0&wait=1ms"} {
		wantPage(t, tl.get(t, query), pageJSON(nil, 0, false))
	}

	all := tl.Publish(t, 150)
	tests := []struct {
		name     string
		query    string
		from, to uint64 // seqs of the ticks returned; from > to for none
		next     uint64
		reset    bool
	}{
		{"no since: the newest alone", "", 150, 150, 150, false},
		{"no since ignores limit", "limit=3", 150, 150, 150, false},
		{"ticks after since, oldest first", "since=140", 141, 150, 150, false},
		{"limit caps the page, next is its last", "since=140&limit=3", 141, 143, 143, false},
		{"nothing newer: empty, next=since", "since=150", 1, 0, 150, false},
		{"since just before the oldest held", "since=50", 51, 150, 150, false},
		{"since older than history: reset, from the oldest", "since=49", 51, 150, 150, true},
		{"reset with limit", "since=10&limit=5", 51, 55, 55, true},
		{"since ahead of the feed: reset, empty, next=last", "since=1000", 1, 0, 150, true},
		{"long poll with ticks answers at once", "since=140&wait=30s", 141, 150, 150, false},
		{"long poll with limit", "since=140&limit=2&wait=30s", 141, 142, 142, false},
		{"long poll since older than history", "since=10&limit=5&wait=30s", 51, 55, 55, true},
		{"long poll since ahead answers at once", "since=1000&wait=30s", 1, 0, 150, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := tl.get(t, tc.query)
			wantPage(t, res, pageJSON(seqs(all, tc.from, tc.to), tc.next, tc.reset))
			for name, want := range map[string]string{"Content-Type": "application/json", "Cache-Control": "no-store"} {
				if got := res.header.Get(name); got != want {
					t.Errorf("got %s %q, want %q", name, got, want)
				}
			}
		})
	}

	t.Run("HEAD has the headers and no body", func(t *testing.T) {
		res, err := tl.do(http.MethodHead, "since=140")
		if err != nil {
			t.Fatal(err)
		}
		want := pageJSON(seqs(all, 141, 150), 150, false)
		if res.status != http.StatusOK || len(res.body) != 0 || res.header.Get("Content-Length") != strconv.Itoa(len(want)) {
			t.Errorf("got status %d, body %d bytes, Content-Length %s; want 200, 0, %d",
				res.status, len(res.body), res.header.Get("Content-Length"), len(want))
		}
	})
}

// TestHandlerAccounting checks the server-side stats the dashboard shows.
func TestHandlerAccounting(t *testing.T) {
	tl := startLab(t, nil)
	tl.Publish(t, 10)

	var bodyBytes int
	for _, query := range []string{"since=0", "since=5", ""} { // 10 + 5 + 1 ticks
		bodyBytes += len(tl.get(t, query).body)
	}
	bodyBytes += len(tl.get(t, "since=8&wait=1s").body) // 2 ticks

	// Clients (requests in flight) drops back after the response is written, so
	// the client may see the response first.
	labtest.WaitFor(t, "in-flight requests to reach 0", func() bool {
		return tl.short.Clients.Load() == 0 && tl.long.Clients.Load() == 0
	})
	for _, c := range []struct {
		name      string
		got, want uint64
	}{
		{"short requests", tl.short.Requests.Load(), 3},
		{"short messages", tl.short.Messages.Load(), 16},
		{"long requests", tl.long.Requests.Load(), 1},
		{"long messages", tl.long.Messages.Load(), 2},
	} {
		if c.got != c.want {
			t.Errorf("got %s %d, want %d", c.name, c.got, c.want)
		}
	}
	// Wire bytes include the status line and headers, so they exceed the bodies.
	if got := tl.short.Bytes.Load() + tl.long.Bytes.Load(); got <= uint64(bodyBytes) {
		t.Errorf("got %d wire bytes, want more than the %d body bytes", got, bodyBytes)
	}
}

// TestLongPollHolds checks that a long poll with nothing to send waits for the
// next tick and answers as soon as it is published.
func TestLongPollHolds(t *testing.T) {
	for _, query := range []string{"since=3&wait=30s", "wait=30s"} {
		t.Run(query, func(t *testing.T) {
			tl := startLab(t, nil)
			tl.Publish(t, 3)

			done := tl.goGet(query)
			// The long stats' in-flight gauge says the request reached the handler.
			labtest.WaitFor(t, "the long poll to be in flight", func() bool { return tl.long.Clients.Load() == 1 })
			select {
			case res := <-done:
				t.Fatalf("long poll returned before any new tick: status %d, body %s", res.status, res.body)
			default:
			}

			tick := tl.Publish(t, 1)
			res := receive(t, done)
			wantPage(t, res, pageJSON(tick, 4, false))
		})
	}
}

// TestLongPollWaitPasses checks the answer when no tick comes within wait.
func TestLongPollWaitPasses(t *testing.T) {
	tl := startLab(t, nil)
	tl.Publish(t, 3)

	start := time.Now()
	res := tl.get(t, "since=3&wait=50ms")
	if took := time.Since(start); took < 50*time.Millisecond {
		t.Errorf("got an answer after %v, want one after wait=50ms", took)
	}
	wantPage(t, res, pageJSON(nil, 3, false))
}

// TestLongPollShutdown checks that a held long poll ends when the server's base
// context is cancelled, as it is at SIGINT, instead of holding shutdown for wait.
func TestLongPollShutdown(t *testing.T) {
	tl := startLab(t, nil)
	tl.Publish(t, 3)

	done := tl.goGet("since=3&wait=30s")
	labtest.WaitFor(t, "the long poll to be in flight", func() bool { return tl.long.Clients.Load() == 1 })
	tl.shutdown()
	wantPage(t, receive(t, done), pageJSON(nil, 3, false))
}

// TestHandlerBadInput checks that every malformed request gets a clear 4xx with a
// JSON error, is counted where /metrics shows it, and harms nothing.
func TestHandlerBadInput(t *testing.T) {
	tl := startLab(t, nil)
	all := tl.Publish(t, 5)

	tests := []struct {
		method, query   string
		status          int
		pattern, reason string
		mention         string // the error message must name this
	}{
		{"GET", "since=abc", 400, "poll", "since", "since"},
		{"GET", "since=%zz", 400, "poll", "query", "malformed query"},
		{"GET", "since=-1", 400, "poll", "since", "since"},
		{"GET", "since=", 400, "poll", "since", "since"},
		{"GET", "since=1&limit=0", 400, "poll", "limit", "1 to 5000"},
		{"GET", "limit=5001", 400, "poll", "limit", "1 to 5000"},
		{"GET", "limit=x", 400, "poll", "limit", "limit"},
		{"GET", "since=1&wait=abc", 400, "longpoll", "wait", "wait"},
		{"GET", "wait=31s", 400, "longpoll", "wait", "30s"},
		{"GET", "wait=-1s", 400, "longpoll", "wait", "wait"},
		{"GET", "wait=0s", 400, "longpoll", "wait", "wait"},
		{"GET", "since=x&wait=1s", 400, "longpoll", "since", "since"},
		{"POST", "since=1", 405, "poll", "method", "POST"},
		{"DELETE", "wait=1s", 405, "longpoll", "method", "DELETE"},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.query, func(t *testing.T) {
			stats := tl.short
			if tc.pattern == "longpoll" {
				stats = tl.long
			}
			badBefore := stats.BadInput.Load()
			metricBefore := labtest.BadInput(t, tl.Metrics.Registry, tc.pattern, tc.reason)

			res, err := tl.do(tc.method, tc.query)
			if err != nil {
				t.Fatal(err)
			}
			if res.status != tc.status {
				t.Errorf("got status %d, want %d", res.status, tc.status)
			}
			if got := res.header.Get("Content-Type"); got != "application/json" {
				t.Errorf("got Content-Type %q, want application/json", got)
			}
			if msg := errorBody(t, res); !strings.Contains(msg, tc.mention) {
				t.Errorf("got error %q, want it to mention %q", msg, tc.mention)
			}
			if got := stats.BadInput.Load() - badBefore; got != 1 {
				t.Errorf("got %s BadInput +%d, want +1", tc.pattern, got)
			}
			if got := labtest.BadInput(t, tl.Metrics.Registry, tc.pattern, tc.reason) - metricBefore; got != 1 {
				t.Errorf("got commlab_bad_input_total{pattern=%q,reason=%q} +%v, want +1", tc.pattern, tc.reason, got)
			}
		})
	}

	t.Run("a good request still works", func(t *testing.T) {
		wantPage(t, tl.get(t, "since=3"), pageJSON(seqs(all, 4, 5), 5, false))
	})
}

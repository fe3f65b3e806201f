package polling

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"commlab/shared"
	"commlab/shared/labtest"
)

// testLab is a real lab (embedded NATS, feed, gateway) with the poll handler
// served on a loopback port.
type testLab struct {
	*labtest.Lab
	srv         *httptest.Server
	shutdown    context.CancelFunc // cancels the handlers' base context, as SIGINT does
	short, long *shared.PatternStats
}

func startLab(t *testing.T, opts *labtest.Options) *testLab {
	t.Helper()
	return startLabWith(t, opts, func(h http.Handler) http.Handler { return h })
}

// startLabWith serves the handler wrapped by wrap, for tests that put a real
// failing server in front of it.
func startLabWith(t *testing.T, opts *labtest.Options, wrap func(http.Handler) http.Handler) *testLab {
	t.Helper()
	lab := labtest.Start(t, opts)
	tl := &testLab{Lab: lab, short: lab.Metrics.Pattern("poll"), long: lab.Metrics.Pattern("longpoll")}
	mux := http.NewServeMux()
	mux.Handle("/api/poll", wrap(Handler(lab.Gateway, tl.short, tl.long, testLogger(t))))
	tl.srv, tl.shutdown = labtest.Serve(t, mux)
	return tl
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), nil))
}

// result is one raw HTTP exchange with /api/poll.
type result struct {
	status int
	header http.Header
	body   []byte
}

// do makes one request without touching t, so goroutines may call it.
func (tl *testLab) do(method, query string) (result, error) {
	req, err := http.NewRequest(method, tl.srv.URL+"/api/poll?"+query, nil)
	if err != nil {
		return result{}, err
	}
	resp, err := tl.srv.Client().Do(req)
	if err != nil {
		return result{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return result{}, err
	}
	return result{status: resp.StatusCode, header: resp.Header, body: body}, nil
}

func (tl *testLab) get(t *testing.T, query string) result {
	t.Helper()
	res, err := tl.do(http.MethodGet, query)
	if err != nil {
		t.Fatalf("GET ?%s: %v", query, err)
	}
	return res
}

// goGet starts a request on its own goroutine; the returned channel (buffered,
// so the goroutine never blocks) receives its outcome.
func (tl *testLab) goGet(query string) <-chan result {
	done := make(chan result, 1)
	go func() {
		res, err := tl.do(http.MethodGet, query)
		if err != nil {
			res = result{status: -1, body: []byte(err.Error())}
		}
		done <- res
	}()
	return done
}

// pageJSON is the contract's response, the expected body built from the feed's own bytes.
func pageJSON(ticks []shared.Tick, next uint64, reset bool) string {
	var b bytes.Buffer
	b.WriteString(`{"ticks":[`)
	for i, t := range ticks {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(t.Raw)
	}
	fmt.Fprintf(&b, `],"next":%d,"reset":%t}`+"\n", next, reset)
	return b.String()
}

// seqs returns published[from-1 : to], the ticks with seq from..to (published
// starts at seq 1); from > to means none.
func seqs(published []shared.Tick, from, to uint64) []shared.Tick {
	if from > to {
		return nil
	}
	return published[from-1 : to]
}

// wantPage checks a 200 response against the expected page.
func wantPage(t *testing.T, res result, want string) {
	t.Helper()
	if res.status != http.StatusOK {
		t.Fatalf("got status %d (%s), want 200", res.status, res.body)
	}
	if got := string(res.body); got != want {
		t.Fatalf("got body\n%s\nwant\n%s", got, want)
	}
}

// errorBody decodes the contract's {"error": "..."}.
func errorBody(t *testing.T, res result) string {
	t.Helper()
	var e struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(res.body, &e); err != nil || e.Error == "" {
		t.Fatalf(`got body %q, want {"error": "..."}`, res.body)
	}
	return e.Error
}

// receive waits for a result, at most 10s.
func receive(t *testing.T, done <-chan result) result {
	t.Helper()
	select {
	case res := <-done:
		return res
	case <-time.After(10 * time.Second):
		t.Fatal("request did not return within 10s")
		return result{}
	}
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

package sse

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"commlab/shared/labtest"
)

// The README's "Six connections per origin", both halves: the limit is the
// browser's, not the server's.

// sevenStreamsPage opens seven EventSources to its own origin and counts the
// ticks each one gets.
const sevenStreamsPage = `<!doctype html>
<title>seven streams</title>
<script>
window.streams = [];
window.ticks = [];
for (let i = 0; i < 7; i++) {
  const es = new EventSource("/api/sse");
  window.ticks.push(0);
  es.addEventListener("tick", () => { window.ticks[i]++; });
  window.streams.push(es);
}
</script>`

// In Chromium, over HTTP/1.1, six streams open and the seventh waits for a
// connection: its request never reaches the server. When one of the six
// closes, the seventh takes its connection and opens.
func TestBrowserOpensSixStreamsPerOrigin(t *testing.T) {
	lab := labtest.Start(t, nil)
	stats := lab.Metrics.Pattern("sse")
	mux := http.NewServeMux()
	mux.Handle("GET /api/sse", Handler(lab.Gateway, stats, lab.Log, nil))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, sevenStreamsPage)
	})
	srv, _ := labtest.Serve(t, mux)
	ctx := labtest.NewBrowser(t, [2]int{800, 600})
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/")); err != nil {
		t.Fatal(err)
	}

	// Six streams open, and each gets a tick: they are live, not stuck.
	// A stream counts as a client before it subscribes to the hub; wait for the
	// subscriptions, or the tick could pass a stream that is not yet listening.
	labtest.WaitFor(t, "six open streams on the server", func() bool {
		return stats.Clients.Load() == 6 && lab.Gateway.Hub.Len() == 6
	})
	lab.Publish(t, 1)
	labtest.WaitJS(t, ctx, "six streams with a tick", 10*time.Second, `ticks.filter(n => n > 0).length === 6`)

	// The seventh is still connecting, and the server never saw its request.
	waiting := labtest.Evaluate[int](t, ctx, `streams.findIndex(es => es.readyState === EventSource.CONNECTING)`)
	if open := labtest.Evaluate[int](t, ctx, `streams.filter(es => es.readyState === EventSource.OPEN).length`); open != 6 || waiting < 0 {
		t.Fatalf("got %d open streams and waiting index %d, want 6 open and one connecting", open, waiting)
	}
	if got := stats.Requests.Load(); got != 6 {
		t.Errorf("the server got %d stream requests, want 6: the seventh should wait in the browser", got)
	}

	// Closing one of the six frees its connection for the seventh.
	labtest.Evaluate[bool](t, ctx, fmt.Sprintf(`streams[%d].close(), true`, (waiting+1)%7))
	labtest.WaitJS(t, ctx, "the seventh stream to open", 10*time.Second, fmt.Sprintf(`streams[%d].readyState === EventSource.OPEN`, waiting))
	labtest.WaitFor(t, "the server to count the seventh request", func() bool { return stats.Requests.Load() == 7 })
}

// Seven streams from one program (seven curls, seven Go clients) all open:
// the server has no per-origin limit, and each client has its own connections.
func TestServerTakesSevenStreams(t *testing.T) {
	lab, stats, srv, _ := start(t, nil, nil)
	readers := make([]*eventReader, 7)
	for i := range readers {
		readers[i] = newEventReader(get(t, srv.URL+"/api/sse", nil).Body)
	}
	labtest.WaitFor(t, "seven open streams", func() bool { return stats.Clients.Load() == 7 })
	// A live-only stream starts when it subscribes to the hub.
	labtest.WaitFor(t, "seven streams to subscribe", func() bool { return lab.Gateway.Hub.Len() == 7 })
	tick := lab.Publish(t, 1)
	for _, rd := range readers {
		expectTicks(t, rd, tick)
	}
}

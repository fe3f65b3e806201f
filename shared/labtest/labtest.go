// Package labtest starts the real parts of the lab for tests: an embedded NATS
// server on a random port, a feed, and a gateway following it. Tests publish ticks
// one at a time with Lab.Publish, so they know exactly which seqs exist, and wait
// on the gateway instead of sleeping.
package labtest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"commlab/shared"
)

// Seed is the fixed feed seed tests use, so prices are repeatable.
const Seed = 42

// Lab is a running broker, feed and gateway.
type Lab struct {
	Broker  *shared.Broker
	NC      *nats.Conn
	Feed    *shared.Feed
	Gateway *shared.Gateway
	Metrics *shared.Metrics
	Log     *slog.Logger
}

// Options tune Start; nil means the defaults.
type Options struct {
	History int // ticks held; default 10,000
}

// Start runs a lab until the test ends. The feed does not run on a clock: call
// Publish to produce ticks.
func Start(t testing.TB, opts *Options) *Lab {
	t.Helper()
	l, err := start(opts, t.TempDir(), t.Cleanup)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// ForExample runs a lab for an Example function, which has no testing.TB to
// clean up after it: call stop when done. It panics if the lab cannot start.
func ForExample() (lab *Lab, stop func()) {
	dir, err := os.MkdirTemp("", "commlab-example-")
	if err != nil {
		panic(err)
	}
	var cleanups []func()
	stop = func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
		_ = os.RemoveAll(dir)
	}
	lab, err = start(nil, dir, func(f func()) { cleanups = append(cleanups, f) })
	if err != nil {
		stop()
		panic(err)
	}
	return lab, stop
}

// start starts the parts in order; cleanup registers how to stop each one.
func start(opts *Options, dir string, cleanup func(func())) (*Lab, error) {
	if opts == nil {
		opts = &Options{}
	}
	if opts.History == 0 {
		opts.History = 10_000
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	b, err := shared.StartBroker(shared.BrokerConfig{Listen: "127.0.0.1:0", DataDir: dir, Logger: log})
	if err != nil {
		return nil, err
	}
	cleanup(b.Close)
	feedConn, err := b.Connect("labtest-feed")
	if err != nil {
		return nil, err
	}
	cleanup(feedConn.Close)
	gwConn, err := b.Connect("labtest-gateway")
	if err != nil {
		return nil, err
	}
	cleanup(gwConn.Close)
	feed, err := shared.NewFeed(feedConn, Seed, shared.DefaultSymbols, 0)
	if err != nil {
		return nil, err
	}
	gw := shared.NewGateway(opts.History, log)
	if err := gw.Start(gwConn); err != nil {
		return nil, err
	}
	cleanup(gw.Close)
	return &Lab{Broker: b, NC: feedConn, Feed: feed, Gateway: gw, Metrics: shared.NewMetrics(), Log: log}, nil
}

// MustPublish is Publish for an Example: it panics where Publish fails the test.
func (l *Lab) MustPublish(n int) []shared.Tick {
	ticks, err := l.publish(n)
	if err != nil {
		panic(err)
	}
	return ticks
}

// Publish produces n ticks and waits until the gateway holds all of them. It
// returns them in seq order.
func (l *Lab) Publish(t testing.TB, n int) []shared.Tick {
	t.Helper()
	ticks, err := l.publish(n)
	if err != nil {
		t.Fatal(err)
	}
	return ticks
}

func (l *Lab) publish(n int) ([]shared.Tick, error) {
	ticks := make([]shared.Tick, 0, n)
	for range n {
		tick, err := l.Feed.Publish()
		if err != nil {
			return nil, err
		}
		ticks = append(ticks, tick)
	}
	if n > 0 {
		return ticks, l.waitSeq(ticks[n-1].Seq)
	}
	return ticks, nil
}

// WaitSeq waits until the gateway holds seq, for at most 10 seconds.
func (l *Lab) WaitSeq(t testing.TB, seq uint64) {
	t.Helper()
	if err := l.waitSeq(seq); err != nil {
		t.Fatal(err)
	}
}

func (l *Lab) waitSeq(seq uint64) error {
	deadline := time.After(10 * time.Second)
	for {
		changed := l.Gateway.History.Changed()
		if l.Gateway.History.Last() >= seq {
			return nil
		}
		select {
		case <-changed:
		case <-deadline:
			return fmt.Errorf("gateway did not reach seq %d (last %d)", seq, l.Gateway.History.Last())
		}
	}
}

// Serve serves h on a loopback port the way the lab does: bytes written are
// counted, and the handlers' contexts end when the returned cancel is called (or
// the test ends), as at shutdown.
func Serve(t testing.TB, h http.Handler) (srv *httptest.Server, shutdown context.CancelFunc) {
	t.Helper()
	return ServeAt(t, "127.0.0.1:0", h)
}

// ServeAt is Serve on the given address: for a test that stops one server and
// starts another where it was, as a restarted lab would be.
func ServeAt(t testing.TB, addr string, h http.Handler) (srv *httptest.Server, shutdown context.CancelFunc) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen on %s: %v", addr, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv = &httptest.Server{
		Listener: shared.CountingListener{Listener: ln},
		Config: &http.Server{
			Handler:     h,
			ConnContext: shared.ConnContext,
			BaseContext: func(net.Listener) context.Context { return shared.WithShutdown(ctx) },
		},
	}
	srv.Start()
	t.Cleanup(func() {
		cancel()
		srv.Close()
	})
	return srv, cancel
}

// Dropper is an HTTP client whose connections a test can cut mid-stream, as a
// network failure would, to exercise a client's reconnect and resume.
type Dropper struct {
	mu    sync.Mutex
	conns []net.Conn
}

// Wrap makes every connection c dials droppable; c must use an *http.Transport.
func (d *Dropper) Wrap(c *http.Client) *http.Client {
	tr := c.Transport.(*http.Transport)
	dial := tr.DialContext
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := dial(ctx, network, addr)
		if err == nil {
			d.mu.Lock()
			d.conns = append(d.conns, conn)
			d.mu.Unlock()
		}
		return conn, err
	}
	return c
}

// Held returns how many connections DropAll would close now.
func (d *Dropper) Held() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.conns)
}

// DropAll closes every connection dialed so far and returns how many there were.
func (d *Dropper) DropAll() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := len(d.conns)
	for _, c := range d.conns {
		_ = c.Close()
	}
	d.conns = nil
	return n
}

// WaitFor polls cond every 2 ms until it holds, for at most 10 seconds. It is for
// counters that have no signal to wait on; wait on a channel where there is one.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// BadInput scrapes reg as Prometheus would and returns
// commlab_bad_input_total{pattern, reason}, or 0 when the series is absent.
func BadInput(t testing.TB, reg *prometheus.Registry, pattern, reason string) float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("got /metrics status %d, want 200", rec.Code)
	}
	prefix := fmt.Sprintf(`commlab_bad_input_total{pattern=%q,reason=%q} `, pattern, reason)
	for line := range strings.Lines(rec.Body.String()) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), prefix); ok {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metric line %q: %v", line, err)
			}
			return n
		}
	}
	return 0
}

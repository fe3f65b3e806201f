package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"
	"golang.org/x/sync/errgroup"

	"commlab/patterns/natspubsub"
	"commlab/patterns/natsqueue"
	"commlab/patterns/websocket"
	"commlab/shared"
)

// lab is one running commlab process: the feed publishing to NATS, the gateway
// following it, and the HTTP server with every pattern. It is the same shape that
// later runs as several gateway processes behind a NATS cluster.
type lab struct {
	cfg      *config
	log      *slog.Logger
	broker   *shared.Broker
	feedConn *nats.Conn
	gwConn   *nats.Conn
	feed     *shared.Feed
	gateway  *shared.Gateway
	metrics  *shared.Metrics
	listener net.Listener
	server   *http.Server
	pubsub   *natspubsub.Group // NATS subscribers whose counts /api/stats shows
	ws       *websocket.Server // tracks its hijacked connections, which Shutdown does not
	workPub  *natsqueue.Publisher
	queue    *natsqueue.Pool // the in-process queue workers, core and JetStream
	faults   *faults         // the dashboard's own connections, to slow on request
}

// startLab starts the broker, the feed's and the gateway's NATS connections and
// the HTTP listener. Listening here, before anything is served, means a busy port
// is reported at once and tests can ask for port 0 and read the real one.
func startLab(cfg *config, log *slog.Logger) (_ *lab, err error) {
	l := &lab{cfg: cfg, log: log, metrics: shared.NewMetrics(), faults: newFaults()}
	defer func() {
		if err != nil {
			ctx, cancel := context.WithTimeout(context.Background(), cfg.shutdownGrace)
			defer cancel()
			l.close(ctx) // release whatever started before the error
		}
	}()
	l.broker, err = shared.StartBroker(shared.BrokerConfig{
		URL: cfg.natsURL, Listen: cfg.natsListen, DataDir: cfg.dataDir, Logger: log,
	})
	if err != nil {
		return nil, err
	}
	if l.feedConn, err = l.broker.Connect("commlab-feed"); err != nil {
		return nil, err
	}
	if l.gwConn, err = l.broker.Connect("commlab-gateway"); err != nil {
		return nil, err
	}
	if l.feed, err = shared.NewFeed(l.feedConn, cfg.seed, shared.DefaultSymbols, cfg.rate); err != nil {
		return nil, err
	}
	if cfg.workQueue { // unless --nats-patterns=false
		if err = l.startWorkQueue(cfg, log); err != nil {
			return nil, err
		}
	}
	l.gateway = shared.NewGateway(cfg.history, log)
	l.gateway.Linger = cfg.linger
	if err = l.gateway.Start(l.gwConn); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", cfg.addr, err)
	}
	l.listener = shared.CountingListener{Listener: ln}
	return l, nil
}

// url is the lab's base URL.
func (l *lab) url() string { return "http://" + l.listener.Addr().String() }

// printURLs tells the user where everything is.
func (l *lab) printURLs(w io.Writer) {
	u := l.url()
	fmt.Fprintf(w, "commlab serving on %s\n", u)
	fmt.Fprintf(w, "  dashboard      %s/\n", u)
	fmt.Fprintf(w, "  short polling  %s/api/poll?since=0\n", u)
	fmt.Fprintf(w, "  long polling   %s/api/poll?since=0&wait=25s\n", u)
	fmt.Fprintf(w, "  SSE            %s/api/sse\n", u)
	fmt.Fprintf(w, "  WebSocket      ws://%s/api/ws\n", l.listener.Addr())
	fmt.Fprintf(w, "  info, stats    %s/api/info  %s/api/stats  %s/metrics\n", u, u, u)
	if l.broker.Embedded() {
		fmt.Fprintf(w, "  NATS           %s (embedded)\n", l.broker.URL())
	} else {
		fmt.Fprintf(w, "  NATS           %s (external)\n", l.broker.URL())
	}
	fmt.Fprintf(w, "  NATS pub/sub   ticks.<SYMBOL>, ticks.> for all\n")
	if l.workPub != nil {
		fmt.Fprintf(w, "  NATS queues    work.ticks: core queue group %q, JetStream stream %s\n", natsqueue.QueueGroup, natsqueue.StreamName)
	}
	if l.cfg.linger > 0 {
		fmt.Fprintf(w, "linger: live ticks wait up to %v before SSE and WebSocket clients get them, several to a write\n", l.cfg.linger)
	}
	fmt.Fprintf(w, "feed: %d ticks/s over %d symbols, epoch %s. Ctrl-C stops.\n", l.feed.Rate(), len(l.feed.Symbols()), l.feed.Epoch())
}

// run serves until ctx ends, then shuts down within the grace period: HTTP
// streams end (their contexts derive from ctx), WebSockets close with GoingAway,
// and the NATS connections drain so no published tick is left unsent.
func (l *lab) run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	l.server = &http.Server{
		Handler:           l.routes(),
		ReadHeaderTimeout: 5 * time.Second,
		// Streaming responses must not be cut by a write timeout; every handler
		// bounds its own writes instead.
		WriteTimeout: 0,
		IdleTimeout:  2 * time.Minute,
		// Every request's context ends when the lab stops, for whatever reason:
		// that is how open streams learn of the shutdown.
		BaseContext: func(net.Listener) context.Context { return shared.WithShutdown(gctx) },
		ConnContext: shared.ConnContext,
		ErrorLog:    slog.NewLogLogger(l.log.Handler(), slog.LevelDebug),
	}
	g.Go(func() error { return l.feed.Run(gctx) })
	if l.cfg.natsPatterns {
		l.pubsub = natspubsub.NewGroup(natspubsub.DemoSubscribers())
		g.Go(func() error { return l.pubsub.Run(gctx, l.broker.Connect, l.log, nil) })
	}
	g.Go(func() error {
		if err := l.server.Serve(l.listener); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("http: %w", err)
		}
		return nil
	})
	// One deadline for the whole shutdown: HTTP, WebSockets and NATS together.
	var deadline time.Time
	g.Go(func() error {
		<-gctx.Done()
		deadline = time.Now().Add(l.cfg.shutdownGrace)
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		defer cancel()
		if err := l.server.Shutdown(ctx); err != nil {
			l.log.Warn("http shutdown", "err", err)
			return l.server.Close()
		}
		// Shutdown does not wait for hijacked connections: the WebSockets
		// close with 1001 on their own, and the server counts them out.
		if err := l.ws.Wait(ctx); err != nil {
			l.log.Warn("websocket sessions still open at the deadline", "err", err)
		}
		return nil
	})
	err := g.Wait()
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	l.close(ctx)
	l.log.Info("lab stopped")
	return err
}

// close releases what startLab acquired, in reverse order, by ctx's deadline.
func (l *lab) close(ctx context.Context) {
	if l.listener != nil {
		_ = l.listener.Close()
	}
	if l.queue != nil {
		l.queue.Close(ctx) // workers finish and ack what they hold, by the deadline
	}
	if l.gateway != nil {
		l.gateway.Close()
	}
	for _, nc := range []*nats.Conn{l.feedConn, l.gwConn} {
		if nc != nil {
			drain(ctx, nc)
		}
	}
	if l.broker != nil {
		l.broker.Close()
	}
}

// serve is the default command: run the lab until interrupted.
func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs, cfg := labFlags("serve", getenv, defaultAddr, defaultNATSListen)
	fs.SetOutput(stderr)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := cfg.validate(); err != nil {
		return err
	}
	log := newLogger(stderr, cfg.logLevel)
	l, err := startLab(cfg, log)
	if err != nil {
		return err
	}
	l.printURLs(stdout)
	return l.run(ctx)
}

func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// drain flushes what nc still has to publish and handle, then closes it; by
// ctx's deadline it closes it anyway. Drain itself returns at once and
// finishes in the background.
func drain(ctx context.Context, nc *nats.Conn) {
	closed := make(chan struct{})
	nc.SetClosedHandler(func(*nats.Conn) { close(closed) })
	if err := nc.Drain(); err != nil {
		nc.Close()
		return
	}
	select {
	case <-closed:
	case <-ctx.Done():
		nc.Close()
	}
}

// startWorkQueue sets up the work queues: one publish per tick to work.ticks
// reaches the core queue group and is stored by the JetStream stream TICKWORK.
// The stream must exist before the first tick, or that tick is stored nowhere.
// The lab's own workers start only with the NATS patterns: the NATS demos run
// workers of their own.
func (l *lab) startWorkQueue(cfg *config, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := natsqueue.SetupStreams(ctx, l.feedConn, nil)
	if err != nil {
		return err
	}
	if l.workPub, err = natsqueue.NewPublisher(l.feedConn, &natsqueue.PublisherOptions{Epoch: l.feed.Epoch(), Log: log}); err != nil {
		return err
	}
	l.feed.AlsoPublish(l.workPub.Publish)
	if !cfg.natsPatterns {
		return nil
	}
	l.queue, err = natsqueue.StartPool(ctx, l.broker.Connect, &natsqueue.PoolOptions{
		Core: natsqueue.DefaultWorkers, JetStream: natsqueue.DefaultWorkers, Publisher: l.workPub, Log: log,
	})
	return err
}

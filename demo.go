package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"commlab/patterns/natspubsub"
	"commlab/patterns/natsqueue"
	"commlab/patterns/polling"
	"commlab/patterns/sse"
	"commlab/patterns/websocket"
	"commlab/shared"
)

// demoConfig holds the terminal client's own flags.
type demoConfig struct {
	url         string
	interval    time.Duration
	wait        time.Duration
	symbols     string
	quiet       bool
	duration    time.Duration
	workTime    time.Duration
	killAfter   time.Duration
	reviveAfter time.Duration
}

func demoFlags() (*flag.FlagSet, *config, *demoConfig) {
	// The demo's own lab takes free ports and its own embedded NATS, whatever
	// COMMLAB_ADDR and NATS_URL say, so it runs beside `go run .` instead of
	// joining it: two feeds on one NATS would fight over the seqs.
	noEnv := func(string) string { return "" }
	fs, cfg := labFlags("demo", noEnv, "127.0.0.1:0", "127.0.0.1:0")
	d := &demoConfig{}
	fs.StringVar(&d.url, "url", "", "connect the client to this running lab (e.g. http://127.0.0.1:8080) instead of starting one")
	fs.DurationVar(&d.interval, "interval", time.Second, "poll: time between requests")
	fs.DurationVar(&d.wait, "wait", 25*time.Second, "longpoll: how long the server may hold a request")
	fs.StringVar(&d.symbols, "symbols", "", "ws: comma-separated symbols to subscribe to with the symbols op (default all)")
	fs.BoolVar(&d.quiet, "quiet", false, "print only the summary lines, not every tick")
	fs.DurationVar(&d.duration, "for", 0, "stop after this long (default: until Ctrl-C)")
	fs.DurationVar(&d.workTime, "work-time", 0, "queue: how long each worker's job of one tick takes (default 80ms: busy workers, so a kill has work to lose)")
	fs.DurationVar(&d.killAfter, "kill-after", 0, "queue: kill worker 1 of each kind after this long (default: when you type k and Enter)")
	fs.DurationVar(&d.reviveAfter, "revive-after", 0, "queue: revive killed workers this long after the kill (default: when you type r and Enter)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: commlab demo <poll|longpoll|sse|ws|pubsub|queue> [flags]\n\nFlags:\n")
		fs.PrintDefaults()
	}
	return fs, cfg, d
}

// validate refuses flags that the chosen pattern would silently ignore.
func (d *demoConfig) validate(pattern string, fs *flag.FlagSet) error {
	only := map[string]string{"interval": "poll", "wait": "longpoll", "symbols": "ws",
		"work-time": "queue", "kill-after": "queue", "revive-after": "queue"}
	var err error
	fs.Visit(func(f *flag.Flag) {
		if p, ok := only[f.Name]; ok && p != pattern && err == nil {
			err = fmt.Errorf("demo %s: --%s is for demo %s only", pattern, f.Name, p)
		}
	})
	switch {
	case err != nil:
		return err
	case d.interval <= 0:
		return fmt.Errorf("--interval %s: want a positive duration", d.interval)
	case d.wait <= 0 || d.wait > 30*time.Second:
		return fmt.Errorf("--wait %s: want a duration above 0 and at most 30s", d.wait)
	case d.workTime < 0 || d.killAfter < 0 || d.reviveAfter < 0:
		return fmt.Errorf("--work-time, --kill-after and --revive-after want durations of 0 or more")
	case d.duration < 0:
		return fmt.Errorf("--for %s: want a positive duration, or 0 to run until Ctrl-C", d.duration)
	}
	return nil
}

// subscribeFunc is what every pattern's client looks like from the demo.
type subscribeFunc func(ctx context.Context, baseURL string, fn func(shared.Tick), stats *shared.ClientStats, log *slog.Logger) error

func demoClient(pattern string, d *demoConfig) (subscribeFunc, string, error) {
	switch pattern {
	case "poll":
		return func(ctx context.Context, url string, fn func(shared.Tick), st *shared.ClientStats, log *slog.Logger) error {
			return polling.Poll(ctx, url, fn, &polling.Options{Interval: d.interval, Stats: st, Log: log})
		}, fmt.Sprintf("short polling every %s", d.interval), nil
	case "longpoll":
		return func(ctx context.Context, url string, fn func(shared.Tick), st *shared.ClientStats, log *slog.Logger) error {
			return polling.Poll(ctx, url, fn, &polling.Options{Wait: d.wait, Stats: st, Log: log})
		}, fmt.Sprintf("long polling, wait up to %s", d.wait), nil
	case "sse":
		return func(ctx context.Context, url string, fn func(shared.Tick), st *shared.ClientStats, log *slog.Logger) error {
			return sse.Subscribe(ctx, url, fn, &sse.ClientOptions{Stats: st, Log: log})
		}, "server-sent events", nil
	case "ws":
		var symbols []string
		if d.symbols != "" {
			symbols = strings.Split(strings.ToUpper(d.symbols), ",")
		}
		return func(ctx context.Context, url string, fn func(shared.Tick), st *shared.ClientStats, log *slog.Logger) error {
			return websocket.Subscribe(ctx, url, fn, &websocket.ClientOptions{Symbols: symbols, Stats: st, Log: log})
		}, "WebSocket", nil
	}
	return nil, "", fmt.Errorf("demo: unknown pattern %q (want poll, longpoll, sse, ws, pubsub or queue)", pattern)
}

// demoPatterns are the patterns a demo can show, in the course's order.
var demoPatterns = []string{"poll", "longpoll", "sse", "ws", "pubsub", "queue"}

// demo runs one pattern's terminal client against a lab of its own (or --url),
// printing each tick as it arrives and a summary line every second.
func demo(ctx context.Context, args []string, _ func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return fmt.Errorf("demo: which pattern? want poll, longpoll, sse, ws, pubsub or queue (e.g. go run . demo sse)")
	}
	pattern := args[0]
	if !slices.Contains(demoPatterns, pattern) {
		return fmt.Errorf("demo: unknown pattern %q (want poll, longpoll, sse, ws, pubsub or queue)", pattern)
	}
	fs, cfg, d := demoFlags()
	fs.SetOutput(stderr)
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if err := cfg.validate(); err != nil {
		return err
	}
	if err := d.validate(pattern, fs); err != nil {
		return err
	}
	switch pattern {
	case "queue":
		// The queue demo times itself: it starts the feed once its workers
		// listen, and at the end pauses it and lets the queues drain, so its
		// books add up. Until then the lab's feed waits, paused.
		rate := cfg.rate
		cfg.rate = 0
		return demoNATS(ctx, cfg, d, stderr, func(ctx context.Context, l *lab) error {
			return natsqueue.RunDemo(ctx, l.broker.Connect, stdout, os.Stdin, natsqueue.DemoOptions{
				WorkTime: d.workTime, KillAfter: d.killAfter, ReviveAfter: d.reviveAfter, Duration: d.duration,
				StartFeed: func() { _ = l.feed.SetRate(rate) },
				StopFeed:  func() { _ = l.feed.SetRate(0) },
				Publisher: l.workPub,
				Quiet:     d.quiet,
				// Info lines (workers starting, stopping) would land between
				// the table's rows; warnings are worth the interruption.
				Log: newLogger(stderr, max(cfg.logLevel, slog.LevelWarn)),
			})
		})
	}
	if d.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d.duration)
		defer cancel()
	}
	switch pattern {
	case "pubsub":
		return demoNATS(ctx, cfg, d, stderr, func(ctx context.Context, l *lab) error {
			return natspubsub.RunDemo(ctx, l.broker.Connect, stdout, natspubsub.DemoOptions{
				Quiet: d.quiet, Published: l.feed.LastSeq, Log: clientLogger(stderr),
			})
		})
	}
	subscribe, what, err := demoClient(pattern, d)
	if err != nil {
		return err
	}
	g, ctx := errgroup.WithContext(ctx)
	url := d.url
	if url == "" {
		l, err := startLab(cfg, newLogger(stderr, max(cfg.logLevel, slog.LevelWarn))) // the demo's output is the ticks
		if err != nil {
			return err
		}
		url = l.url()
		g.Go(func() error { return l.run(ctx) })
	}
	fmt.Fprintf(stdout, "demo %s: %s, lab at %s\n", pattern, what, url)

	stats := new(shared.ClientStats)
	window := new(latencyWindow)
	var out sync.Mutex // tick lines and summary lines come from two goroutines
	g.Go(func() error {
		return subscribe(ctx, url, func(t shared.Tick) {
			latency := time.Since(time.UnixMicro(t.TUs))
			window.add(latency)
			if !d.quiet {
				out.Lock()
				// Once the demo is over, the final summary is the last line,
				// though the client may still hand over a tick or two.
				if ctx.Err() == nil {
					fmt.Fprintf(stdout, "#%-7d %-8s %10.4f  %6.1f ms\n", t.Seq, t.Symbol, t.Price, ms(latency))
				}
				out.Unlock()
			}
		}, stats, clientLogger(stderr)) // the client says when it connects and reconnects, and why
	})
	g.Go(func() error {
		start := time.Now()
		every := time.NewTicker(time.Second)
		defer every.Stop()
		for {
			select {
			case <-ctx.Done():
			case <-every.C:
			}
			out.Lock()
			fmt.Fprintln(stdout, summary(pattern, time.Since(start), stats, window))
			out.Unlock()
			if ctx.Err() != nil {
				return nil // the last line above is the final summary
			}
		}
	})
	return g.Wait()
}

// demoNATS runs a NATS pattern's demo beside a lab of its own. The demo brings
// its own subscribers or workers, so the lab runs none.
//
// The lab must outlive the demo: after Ctrl-C the demo still stops the feed,
// asks the broker for its final figures and prints them. So only the demo runs
// on ctx. The lab runs on a context of its own, which keeps ctx's values but
// not its cancellation, and stops once the demo has returned (or, should the
// lab fail, the demo stops too).
func demoNATS(ctx context.Context, cfg *config, d *demoConfig, stderr io.Writer, runDemo func(context.Context, *lab) error) error {
	if d.url != "" {
		return errors.New("demo: --url is for the HTTP patterns; the NATS demos start their own lab")
	}
	cfg.natsPatterns = false // the demo runs workers and subscribers of its own,
	cfg.workQueue = true     // on work.ticks and TICKWORK, whatever --nats-patterns says
	l, err := startLab(cfg, newLogger(stderr, max(cfg.logLevel, slog.LevelWarn)))
	if err != nil {
		return err
	}
	labCtx, stopLab := context.WithCancel(context.WithoutCancel(ctx))
	demoCtx, stopDemo := context.WithCancel(ctx)
	var g errgroup.Group
	g.Go(func() error {
		defer stopDemo() // a lab that failed takes the demo down with it
		return l.run(labCtx)
	})
	g.Go(func() error {
		defer stopLab() // the demo is over: so is its lab
		return runDemo(demoCtx, l)
	})
	return g.Wait()
}

// summary is the demo's one-line live report, over the whole run so far.
func summary(pattern string, elapsed time.Duration, st *shared.ClientStats, w *latencyWindow) string {
	latency := "latency -" // no tick yet
	if p50, p99, ok := w.percentiles(); ok {
		latency = fmt.Sprintf("latency p50 %.1f ms p99 %.1f ms", ms(p50), ms(p99))
	}
	return fmt.Sprintf("== %s %4.0fs | msgs %d | %s | recv %s | requests %d | reconnects %d | gaps %d dups %d",
		pattern, elapsed.Seconds(), st.Messages.Load(), latency, kib(st.Bytes.Load()),
		st.Requests.Load(), st.Reconnects.Load(), st.Gaps.Load(), st.Dups.Load())
}

// latencyWindow keeps the latencies of the last 10,000 ticks for the summary's
// percentiles: enough for a stable p99, bounded however long the demo runs.
type latencyWindow struct {
	mu      sync.Mutex
	samples []time.Duration
	next    int
}

func (w *latencyWindow) add(d time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.samples) < 10_000 {
		w.samples = append(w.samples, d)
		return
	}
	w.samples[w.next] = d
	w.next = (w.next + 1) % len(w.samples)
}

func (w *latencyWindow) percentiles() (p50, p99 time.Duration, ok bool) {
	w.mu.Lock()
	sorted := slices.Clone(w.samples)
	w.mu.Unlock()
	if len(sorted) == 0 {
		return 0, 0, false
	}
	slices.Sort(sorted)
	return sorted[len(sorted)*50/100], sorted[len(sorted)*99/100], true
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func kib(n uint64) string {
	if n < 10*1024 {
		return fmt.Sprintf("%d B", n)
	}
	return fmt.Sprintf("%.1f KiB", float64(n)/1024)
}

// clientLogger logs the demo client's connection events to w, without
// timestamps: they sit between tick lines that carry their own timing.
func clientLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey && len(groups) == 0 {
				return slog.Attr{}
			}
			return a
		},
	}))
}

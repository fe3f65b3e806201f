package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"commlab/shared/bench"
)

// benchConfig is what `commlab bench` is told.
type benchConfig struct {
	opts        bench.Options
	patterns    string
	json        bool
	maxClients  bool
	sloP99      time.Duration
	searchLimit int
	serveFlags  string
}

func benchFlags() (*flag.FlagSet, *benchConfig) {
	b := &benchConfig{}
	o := &b.opts
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.StringVar(&b.patterns, "patterns", strings.Join(bench.Patterns, ","), "comma-separated patterns to measure")
	fs.IntVar(&o.Clients, "clients", 100, "clients per pattern (queue: workers)")
	fs.IntVar(&o.Rate, "rate", 100, "feed rate in ticks/s: the lab starts with it (with --url: POST /api/rate, if the server has it)")
	fs.DurationVar(&o.Duration, "duration", 7*time.Second, "the measured window")
	fs.DurationVar(&o.Warmup, "warmup", time.Second, "wait this long after every client connected, before the window opens")
	fs.DurationVar(&o.PollInterval, "poll-interval", time.Second, "poll: pause between one response and the next request")
	fs.DurationVar(&o.LongPollWait, "long-poll-wait", 25*time.Second, "longpoll: how long the server may hold a request")
	fs.DurationVar(&o.Drain, "drain", 0, "after the window, wait at most this long for ticks in flight (default max(10s, 2 x poll-interval); it ends as soon as every tick is in)")
	fs.IntVar(&o.SrcIPs, "src-ips", 1, "spread client connections over source addresses 127.0.0.1..127.0.0.N, for more ephemeral ports")
	fs.StringVar(&o.URL, "url", "", "measure this running server (any that speaks the contract) instead of starting labs")
	fs.BoolVar(&o.Together, "together", false, "load all --patterns at once, on one server, instead of one after another")
	fs.BoolVar(&b.json, "json", false, "print one JSON object per pattern instead of the table")
	fs.BoolVar(&b.maxClients, "max-clients", false, "search, per pattern, for the most clients that meet --slo-p99 with no gap, from --clients up")
	fs.DurationVar(&b.sloP99, "slo-p99", 50*time.Millisecond, "with --max-clients: the p99 latency a round must stay within")
	fs.IntVar(&b.searchLimit, "search-limit", 10_000, "with --max-clients: the most clients to try")
	fs.StringVar(&b.serveFlags, "serve-flags", "", "more flags for the labs bench starts (commlab serve), split at spaces, no quoting: e.g. --serve-flags='--linger 2ms --queue 64'; not those bench sets itself (--addr, --rate, --nats-*)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: commlab bench [flags]\n\n"+
			"Runs each pattern's own Go clients under the same load against a lab process of its\n"+
			"own (or --url) and prints one comparison table. Progress goes to stderr.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	return fs, b
}

// benchCommand is `commlab bench`: the lab under test is this program again,
// started as `commlab serve`, so its CPU and memory are its own.
func benchCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("bench: find this program to start the lab: %w", err)
	}
	return runBench(ctx, args, stdout, stderr, labProcess{exe: exe, env: os.Environ()})
}

// runBench parses args and runs the bench, starting labs with lab.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer, lab labProcess) error {
	fs, b := benchFlags()
	fs.SetOutput(stderr)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	o := b.opts
	o.Patterns = strings.Split(b.patterns, ",")
	if b.serveFlags != "" {
		if o.URL != "" {
			return errors.New("bench: --serve-flags is for the labs bench starts; with --url, start the server with them yourself")
		}
		lab.extra = strings.Fields(b.serveFlags)
		if err := checkServeFlags(lab.extra); err != nil {
			return err
		}
	}
	o.Start = lab.start
	o.Loaders = benchLoaders
	o.Progress, o.LiveProgress = stderr, isTerminal(stderr)
	if b.maxClients {
		o.Search = &bench.Search{SLOP99: b.sloP99, Limit: b.searchLimit}
	}
	rep, err := bench.Run(ctx, o)
	if rep != nil && len(lab.extra) > 0 {
		rep.Notes = append(rep.Notes, "--serve-flags: the labs were started with "+strings.Join(lab.extra, " "))
	}
	if rep != nil { // print what was measured, even when interrupted
		if b.json {
			rep.WriteHeader(stderr)
			for _, n := range rep.Notes {
				fmt.Fprintf(stderr, "note: %s\n", n)
			}
			if werr := rep.WriteJSON(stdout); werr != nil && err == nil {
				err = werr
			}
		} else if werr := rep.WriteTable(stdout); werr != nil && err == nil {
			err = werr
		}
	}
	if errors.Is(err, context.Canceled) {
		return errors.New("bench: interrupted (the table holds the patterns measured before)")
	}
	if err != nil {
		return err
	}
	failed := 0
	for _, r := range rep.Results {
		if r.Error != "" {
			failed++
		}
	}
	if failed > 0 {
		return fmt.Errorf("bench: %d of %d patterns failed to run (see the errors above)", failed, len(rep.Results))
	}
	return nil
}

// benchOwnedServeFlags are the serve flags bench sets itself, with what to do
// instead. Passed again, they would win over bench's, and the rounds would not
// measure what the table says (another rate, another broker).
var benchOwnedServeFlags = map[string]string{
	"addr":          "bench picks a free port for every lab",
	"nats-listen":   "bench picks a free port for every lab",
	"nats-url":      "every lab runs its own embedded NATS, so that its CPU is counted",
	"nats-patterns": "bench runs the lab's NATS patterns only in the queue's round",
	"rate":          "use bench's own --rate",
}

// checkServeFlags checks the extra serve flags before any lab starts: flags
// bench sets itself are refused, and the rest must be flags serve accepts,
// with values it accepts.
func checkServeFlags(args []string) error {
	for _, a := range args {
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if why, ok := benchOwnedServeFlags[name]; ok && strings.HasPrefix(a, "-") {
			return fmt.Errorf("bench: --serve-flags %s: bench sets that one itself: %s", a, why)
		}
	}
	fs, cfg := labFlags("serve", func(string) string { return "" }, defaultAddr, defaultNATSListen)
	fs.SetOutput(io.Discard)
	if err := parseFlags(fs, args); err != nil {
		return fmt.Errorf("bench: --serve-flags: %w (see go run . help serve)", err)
	}
	if err := cfg.validate(); err != nil {
		return fmt.Errorf("bench: --serve-flags: %w", err)
	}
	return nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// labProcess starts labs as processes of their own: exe serve, with env,
// and extra flags after bench's own.
type labProcess struct {
	exe   string
	env   []string
	extra []string
}

var benchServingRE = regexp.MustCompile(`commlab serving on (http://\S+)`)

// labStartTimeout bounds the wait for a new lab's "serving on" line.
const labStartTimeout = 30 * time.Second

// start runs `commlab serve` on free ports with the given feed rate and its
// own embedded NATS (whatever NATS_URL says), and returns once it serves.
//
// The lab's own NATS subscribers and work queue run only for a round that
// measures the queue, which needs work.ticks. Otherwise they would be counted
// in every pattern's server CPU: at 100 ticks/s the JetStream work queue and
// its workers use about 7% of a core, 0.7 ms per tick, whoever listens.
func (p labProcess) start(ctx context.Context, rate int, patterns []string) (*bench.Server, error) {
	natsPatterns := slices.Contains(patterns, "queue")
	cmd := exec.Command(p.exe, "serve", "--addr", "127.0.0.1:0", "--nats-listen", "127.0.0.1:0", "--nats-url=",
		"--rate", strconv.Itoa(rate), "--nats-patterns="+strconv.FormatBool(natsPatterns), "--log-level", "warn")
	cmd.Args = append(cmd.Args, p.extra...)
	cmd.Env = p.env
	stayWithParent(cmd)
	logs := &tailWriter{max: 8 << 10}
	cmd.Stderr = logs
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("bench: start lab: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench: start lab: %w", err)
	}

	// Read the lab's stdout to its end: first the URL it serves on, then
	// nothing more, until it exits.
	served := make(chan string, 1)
	outDone := make(chan struct{})
	go func() {
		defer close(outDone)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := benchServingRE.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case served <- m[1]:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	stop := func() error {
		_ = cmd.Process.Signal(syscall.SIGTERM) // a clean shutdown, as Ctrl-C would be
		kill := time.AfterFunc(15*time.Second, func() { _ = cmd.Process.Kill() })
		defer kill.Stop()
		<-outDone // Wait must not run before the pipe is read to its end
		if err := cmd.Wait(); err != nil {
			return fmt.Errorf("lab %s: %w: %s", cmd.Path, err, logs)
		}
		return nil
	}

	timeout := time.NewTimer(labStartTimeout)
	defer timeout.Stop()
	select {
	case url := <-served:
		return &bench.Server{URL: url, Close: stop}, nil
	case <-outDone:
		err = errors.New("the lab exited before serving")
	case <-timeout.C:
		err = fmt.Errorf("the lab did not serve within %s", labStartTimeout)
	case <-ctx.Done():
		err = ctx.Err()
	}
	_ = stop()
	return nil, fmt.Errorf("bench: %w: %s", err, logs)
}

// tailWriter keeps the last max bytes written to it: the lab's log, to show
// when it fails.
type tailWriter struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tailWriter) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = t.buf[len(t.buf)-t.max:]
	}
	return len(p), nil
}

func (t *tailWriter) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.buf))
}

package natsqueue

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// DemoOptions tune RunDemo. The zero value means the defaults.
type DemoOptions struct {
	// Workers of each kind. Default DefaultWorkers.
	Workers int

	// WorkTime is how long each tick's job takes. Default 80ms: three
	// workers of a kind handle up to 37.5 ticks/s and two still keep up with
	// the lab's default 20. Workers this busy usually have a tick in hand, so
	// a kill has something to lose.
	WorkTime time.Duration

	// KillAfter kills worker 1 of each kind after this long. Default 0: only
	// when a "k" line arrives on the input.
	KillAfter time.Duration

	// ReviveAfter revives killed workers this long after the kill. Default 0:
	// only when an "r" line arrives.
	ReviveAfter time.Duration

	// Duration stops the demo after this long. Default 0: when ctx ends or a
	// "q" line arrives.
	Duration time.Duration

	// Every is the time between table rows. Default 1s.
	Every time.Duration

	// StartFeed is called once every worker has joined, to start the feed:
	// pass a function that sets its rate, and start the feed paused. A tick
	// published before that is in neither account: the core ledger has not
	// begun, and TICKWORK counts it as backlog. Without StartFeed the caller
	// runs the feed from the start, and the books show such ticks as backlog.
	StartFeed func()

	// StopFeed is called when the demo ends, so the last ticks can be
	// processed and the final numbers settle: pass a function that pauses the
	// feed. Without it the summary shows whatever is still in flight.
	StopFeed func()

	// Drain bounds the wait for the final numbers to settle. Default 15s.
	// When ctx has ended (Ctrl-C), the wait is at most interruptedDrain.
	Drain time.Duration

	// Publisher, when set, adds its skipped and failed ticks to the summary:
	// skipped ones never reached TICKWORK and failed ones may not have, so the
	// JetStream books cannot show them.
	Publisher *Publisher

	// Quiet leaves out the table: only the introduction, the kills and
	// revivals, and the final summary are printed.
	Quiet bool

	// SettleMargin is passed to the pool (PoolOptions.SettleMargin).
	SettleMargin time.Duration

	// Log receives the workers' lifecycle. Default: discard. A logger at Warn
	// keeps the table readable: Info lines would land between its rows.
	Log *slog.Logger
}

const (
	// killWait bounds how long a kill waits for both victims to hold work.
	killWait = 2 * time.Second
	// interruptedDrain bounds the final wait after Ctrl-C: the user wants out,
	// and the summary says honestly what was still in flight.
	interruptedDrain = time.Second
	// closeTimeout bounds the workers' graceful stop once the summary is out.
	closeTimeout = 2 * time.Second
)

// RunDemo runs a pool of core and JetStream workers (3 of each by default)
// against the ticks on work.ticks, and prints a live table to out: what each
// worker processed, and each queue's published, processed, lost, redelivered,
// pending and dead-lettered ticks.
//
// A line "k" on in kills core-1 and js-1 at the same moment ("k2": the second
// ones), "r" revives them, "q" ends the demo; KillAfter and ReviveAfter do the
// same on a timer. Within seconds of a kill the table shows the difference:
// the core queue lost exactly what its worker held, while the JetStream queue
// redelivered its worker's unacked ticks and processed everything.
//
// RunDemo returns when ctx ends, Duration passes, or "q" arrives, after a
// final summary. The caller publishes the ticks (a Publisher on the feed) and
// has set up the streams; it should start the feed only when StartFeed says.
// The broker must outlive RunDemo: the final summary still asks it about the
// stream. A goroutine reads in until in ends: a read from a terminal cannot be
// cancelled, so RunDemo does not wait for it.
func RunDemo(ctx context.Context, connect Connect, out io.Writer, in io.Reader, opts DemoOptions) error {
	o := opts.withDefaults()
	pool, err := StartPool(ctx, connect, &PoolOptions{
		Core: o.Workers, JetStream: o.Workers,
		Worker:       WorkerOptions{WorkTime: o.WorkTime},
		Publisher:    o.Publisher,
		SettleMargin: o.SettleMargin,
		Log:          o.Log,
	})
	if err != nil {
		return err
	}
	defer func() {
		// After the summary, whatever ended the demo: the workers get a
		// moment to finish what they hold, not more.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), closeTimeout)
		defer cancel()
		pool.Close(ctx)
	}()
	d := &demo{pool: pool, out: out, opts: o}
	d.header(ctx, in != nil)
	if o.StartFeed != nil {
		o.StartFeed() // every worker listens, and the books are open
	}
	d.start = time.Now()

	done := make(chan struct{})
	defer close(done)
	lines := readLines(in, done)
	every := time.NewTicker(o.Every)
	defer every.Stop()
	killAt := armedTimer(o.KillAfter)
	defer killAt.Stop()
	end := armedTimer(o.Duration)
	defer end.Stop()
	reviveAt := armedTimer(0)
	defer reviveAt.Stop()
	killed := 0 // the worker number killed last, to revive

	for stop := false; !stop; {
		select {
		case <-ctx.Done():
			stop = true
		case <-end.C:
			stop = true
		case <-every.C:
			d.row(d.snapshot(ctx))
		case <-killAt.C:
			killed = d.kill(ctx, 1)
			if o.ReviveAfter > 0 {
				reviveAt.Reset(o.ReviveAfter)
			}
		case <-reviveAt.C:
			d.revive(ctx, killed)
		case line, ok := <-lines:
			if !ok {
				lines = nil // input ended: go on with the timers
				continue
			}
			switch cmd, n := parseCommand(line); cmd {
			case "k":
				killed = d.kill(ctx, n)
				if o.ReviveAfter > 0 {
					reviveAt.Reset(o.ReviveAfter)
				}
			case "r":
				d.revive(ctx, n)
			case "q":
				stop = true
			case "":
			default:
				fmt.Fprintf(out, "  ?? %q: type k (kill), k2 (kill the 2nd ones), r (revive), q (quit)\n", line)
			}
		}
	}
	d.finish(ctx)
	return nil
}

func (o DemoOptions) withDefaults() DemoOptions {
	if o.Workers <= 0 {
		o.Workers = DefaultWorkers
	}
	if o.WorkTime <= 0 {
		o.WorkTime = 80 * time.Millisecond
	}
	if o.Every <= 0 {
		o.Every = time.Second
	}
	if o.Drain <= 0 {
		o.Drain = 15 * time.Second
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return o
}

// armedTimer returns a timer that fires after d, or for d <= 0 a stopped one,
// whose channel never fires until Reset arms it.
func armedTimer(d time.Duration) *time.Timer {
	t := time.NewTimer(d)
	if d <= 0 {
		t.Stop()
	}
	return t
}

// readLines sends in's lines until in ends or done closes; nil for a nil in.
func readLines(in io.Reader, done <-chan struct{}) <-chan string {
	if in == nil {
		return nil
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(in)
		for sc.Scan() {
			select {
			case lines <- strings.TrimSpace(sc.Text()):
			case <-done:
				return
			}
		}
	}()
	return lines
}

// parseCommand splits "k2" into "k" and 2; a bare "k" means worker 1.
func parseCommand(line string) (cmd string, n int) {
	if line == "" {
		return "", 0
	}
	cmd, num := line[:1], strings.TrimSpace(line[1:])
	if num == "" {
		return cmd, 1
	}
	n, err := strconv.Atoi(num)
	if err != nil || n < 1 {
		return line, 0
	}
	return cmd, n
}

// demo prints the table; only RunDemo's goroutine uses it.
type demo struct {
	pool  *Pool
	out   io.Writer
	opts  DemoOptions
	start time.Time
}

// at is the time since the demo started, as the table shows it.
func (d *demo) at() string { return fmt.Sprintf("%.1fs", time.Since(d.start).Seconds()) }

func (d *demo) snapshot(ctx context.Context) Snapshot {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	return d.pool.Snapshot(ctx)
}

func (d *demo) header(ctx context.Context, interactive bool) {
	snap := d.snapshot(ctx)
	ackWait := time.Duration(snap.JetStream.AckWaitMs) * time.Millisecond
	n, wt := d.opts.Workers, d.opts.WorkTime
	p := func(format string, args ...any) { fmt.Fprintf(d.out, format, args...) }
	p("queue demo: every tick is published once to %s, and %d workers of each kind share it.\n", Subject, n)
	p("  core-N  core NATS queue group %q: the server pushes each tick to one member and keeps no copy.\n", QueueGroup)
	p("  js-N    JetStream stream %s, consumer %q: each tick stays stored until a worker acks it (AckWait %s).\n", StreamName, ConsumerName, ackWait)
	p("  A tick's job takes %s: %d workers handle up to %.1f ticks/s.\n", wt, n, float64(n)*float64(time.Second)/float64(wt))
	if !d.opts.Quiet {
		p("  Worker columns: ticks processed (js: processed/redelivered); x marks a dead worker.\n")
	}
	// The demo's NATS is its own, so no worker outside the pool can take a
	// tick: one that reached none of the pool's workers went nowhere.
	p("  The books: core processed + lost = published, where lost is what a killed worker held, a slow one\n")
	p("  dropped, or the server sent to a dead one; JetStream processed + dead-lettered = published + backlog.\n")
	if snap.JetStream.Backlog > 0 {
		p("  %s still held %d ticks from an earlier run (the backlog); the JetStream workers do those too.\n", StreamName, snap.JetStream.Backlog)
	}
	if interactive {
		p("  Type k and Enter to kill core-1 and js-1 at the same moment (k2: the 2nd ones), r to revive them, q to stop.\n")
	}
	if d.opts.KillAfter > 0 {
		p("  core-1 and js-1 will be killed after %s.\n", d.opts.KillAfter)
	}
	if d.opts.Quiet {
		return
	}
	workers := 8 * n // each worker column is " %7s"
	p("\n%7s |%-*s |%-*s |%-*s |%s\n", "", workers, " core NATS queue group", coreTotalsWidth, " at-most-once", workers, " JetStream work queue", " at-least-once")
	p("%7s |", "time")
	for i := 1; i <= n; i++ {
		p(" %7s", workerName(Core, i))
	}
	p(" | %9s %9s %6s |", "published", "processed", "lost")
	for i := 1; i <= n; i++ {
		p(" %7s", workerName(JetStream, i))
	}
	p(" | %9s %9s %11s %7s %5s\n", "published", "processed", "redelivered", "pending", "dead")
}

// coreTotalsWidth is the width of the row's " %9d %9d %6d" core totals.
const coreTotalsWidth = 27

// demoLost is the core queue's loss as the demo shows it. The pool counts as lost
// only what its own workers held or dropped, and as unknown the ticks none of
// them received: in the lab, another process's worker may have taken those.
// The demo's broker is its own, so here they went to no one: lost as well.
func demoLost(c CoreTotals) uint64 { return c.Lost + c.Unknown }

// row prints one line of the table, unless the demo is quiet.
func (d *demo) row(snap Snapshot) {
	if d.opts.Quiet {
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%7s |", d.at())
	for _, w := range snap.Workers {
		if w.Kind == Core {
			fmt.Fprintf(&b, " %7s", cell(strconv.FormatUint(w.Processed, 10), w.Alive))
		}
	}
	c := snap.Core
	fmt.Fprintf(&b, " | %9d %9d %6d |", c.Published, c.Processed, demoLost(c))
	for _, w := range snap.Workers {
		if w.Kind == JetStream {
			fmt.Fprintf(&b, " %7s", cell(fmt.Sprintf("%d/%d", w.Processed, w.Redelivered), w.Alive))
		}
	}
	j := snap.JetStream
	fmt.Fprintf(&b, " | %9d %9d %11d %7d %5d", j.Published, j.Processed, j.Redelivered, j.Pending, j.DeadLettered)
	if snap.Error != "" {
		fmt.Fprintf(&b, "  (%s)", snap.Error)
	}
	fmt.Fprintln(d.out, b.String())
}

func cell(s string, alive bool) string {
	if alive {
		return s + " "
	}
	return s + "x"
}

// kill kills worker n of each kind at the same moment and says what each held.
// It first waits, at most killWait, for a moment when both have work in hand:
// with nothing in hand there is nothing to lose, and the lesson is what
// happens to work in flight. It returns n, the workers to revive.
func (d *demo) kill(ctx context.Context, n int) int {
	core, js := workerName(Core, n), workerName(JetStream, n)
	deadline := time.NewTimer(killWait)
	defer deadline.Stop()
	poll := time.NewTicker(2 * time.Millisecond)
	defer poll.Stop()
	waiting := d.pool.alive(core) && d.pool.alive(js)
	for waiting && !(d.pool.holding(core) && d.pool.holding(js)) {
		select {
		case <-poll.C:
		case <-deadline.C:
			waiting = false
		case <-ctx.Done():
			waiting = false
		}
	}
	kc, errc := d.pool.Kill(core)
	kj, errj := d.pool.Kill(js)
	at := d.at()
	if errc != nil {
		fmt.Fprintf(d.out, "  >> %s: %v\n", at, errc)
	} else {
		fmt.Fprintf(d.out, "  >> %s killed %s: it held %s; core NATS kept no copy, so %s lost.\n", at, kc.Name, plural(kc.Held, "tick"), plural(kc.Held, "it is"))
	}
	switch {
	case errj != nil:
		fmt.Fprintf(d.out, "  >> %s: %v\n", at, errj)
	case kj.Held == 0:
		fmt.Fprintf(d.out, "  >> %s killed %s between jobs: any ticks it had pulled ahead stay unacked in %s; the others get them once AckWait has passed.\n", at, kj.Name, StreamName)
	default:
		// Held counts what its handler saw; a tick pulled ahead may still
		// have been waiting in its client.
		fmt.Fprintf(d.out, "  >> %s killed %s holding %s unacked, and any it had pulled ahead: they stay in %s, and the others get them once AckWait has passed.\n",
			at, kj.Name, plural(kj.Held, "tick"), StreamName)
	}
	return n
}

// plural says "1 tick", "2 ticks"; for "it is", "it is" and "they are".
func plural(n uint64, what string) string {
	switch {
	case what == "it is" && n == 1:
		return "it is"
	case what == "it is":
		return "they are"
	case n == 1:
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func (d *demo) revive(ctx context.Context, n int) {
	for _, name := range []string{workerName(Core, n), workerName(JetStream, n)} {
		if err := d.pool.Revive(ctx, name); err != nil {
			fmt.Fprintf(d.out, "  >> %s: %v\n", d.at(), err)
			continue
		}
		fmt.Fprintf(d.out, "  >> %s revived %s on a new connection.\n", d.at(), name)
	}
}

// finish stops the feed, waits for the numbers to settle, and prints the
// summary. When ctx has ended (Ctrl-C), it waits at most interruptedDrain; a
// Ctrl-C during the wait ends the wait. Either way the summary says what was
// still in flight. The snapshots do not depend on ctx: the caller keeps the
// broker up until RunDemo returns.
func (d *demo) finish(ctx context.Context) {
	drain, interrupt := d.opts.Drain, ctx.Done()
	if ctx.Err() != nil {
		drain, interrupt = min(drain, interruptedDrain), nil
	}
	if d.opts.StopFeed != nil {
		d.opts.StopFeed()
		fmt.Fprintf(d.out, "  >> %s feed stopped; waiting for the workers to finish (at most %s)\n", d.at(), drain)
	}
	snap := d.snapshot(ctx)
	if d.opts.StopFeed != nil {
		deadline := time.NewTimer(drain)
		defer deadline.Stop()
		every := time.NewTicker(d.opts.Every)
		defer every.Stop()
		poll := time.NewTicker(50 * time.Millisecond)
		defer poll.Stop()
		for waiting := !settled(snap); waiting; {
			select {
			case <-poll.C:
				snap = d.snapshot(ctx)
				waiting = !settled(snap)
			case <-every.C:
				snap = d.snapshot(ctx)
				d.row(snap)
				waiting = !settled(snap)
			case <-deadline.C:
				waiting = false
			case <-interrupt:
				waiting = false
			}
		}
	}
	snap = d.snapshot(ctx)
	d.row(snap)
	fmt.Fprintln(d.out, summary(snap, d.at()))
}

// settled reports whether nothing is in flight any more: every core tick is
// processed or lost, and TICKWORK is empty.
func settled(s Snapshot) bool {
	return s.Error == "" && s.Core.InFlight == 0 && s.JetStream.Pending == 0 && s.JetStream.InStream == 0
}

// summary is the demo's final line: both queues' books side by side. The
// JetStream books balance when every tick TICKWORK stored, during the demo
// (published) or before it (backlog), was processed or moved to the dead
// letters. The publisher's skipped and failed ticks are outside those books:
// at-least-once begins with the stream's ack.
func summary(s Snapshot, at string) string {
	c, j := s.Core, s.JetStream
	core := "at-most-once"
	if c.Unknown > 0 {
		core += fmt.Sprintf("; %d of them never reached a worker", c.Unknown)
	}
	stored, done := j.Published+j.Backlog, j.Processed+j.DeadLettered
	var books string
	switch {
	case done == stored:
		books = "processed + dead-lettered = published + backlog: nothing lost"
	case done < stored:
		books = fmt.Sprintf("%d of published + backlog not processed yet, still in %s", stored-done, StreamName)
	default:
		books = fmt.Sprintf("processed + dead-lettered %d, published + backlog %d", done, stored)
	}
	line := fmt.Sprintf("== queue %s | core: published %d, processed %d, lost %d (%s) | jetstream: published %d, processed %d, redelivered %d, dead-lettered %d, pending %d, backlog %d (at-least-once: %s)",
		at, c.Published, c.Processed, demoLost(c), core, j.Published, j.Processed, j.Redelivered, j.DeadLettered, j.Pending, j.Backlog, books)
	if c.InFlight > 0 {
		line += fmt.Sprintf(" | core still in flight: %d", c.InFlight)
	}
	if p := s.Publisher; p != nil {
		line += fmt.Sprintf(" | publisher: skipped %d, failed %d", p.Skipped, p.Failed)
		if p.Skipped+p.Failed > 0 {
			line += " (skipped: never published; failed: not confirmed stored)"
		}
	}
	return line
}

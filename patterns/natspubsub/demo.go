package natspubsub

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"commlab/shared"
)

// DemoOptions tune RunDemo. The zero value runs DemoSubscribers, printing every
// message and a summary every second.
type DemoOptions struct {
	// Group is the subscribers to run. Default: NewGroup(DemoSubscribers()).
	// Pass your own to read its Snapshot elsewhere, for instance in /api/stats.
	Group *Group

	// Quiet prints only the summaries, not every message.
	Quiet bool

	// Every is the time between summaries. Default 1s.
	Every time.Duration

	// Published returns the seq of the feed's newest tick ((*shared.Feed).LastSeq).
	// The summaries then show the feed keeping its pace however far behind a
	// subscriber is. Default nil: not shown.
	Published func() uint64

	// Log receives the subscribers' events. Default: discard.
	Log *slog.Logger
}

// RunDemo runs a group of subscribers, each on a new connection from connect,
// and prints what they receive to out until ctx ends: every message as a line
// (unless Quiet), a summary per subscriber every second, and a final summary.
// It returns nil when ctx ends, or the first error of a subscriber or of a
// write to out.
//
// With DemoSubscribers, the summaries show the lesson side by side: all, acme
// and wild get every matching tick and drop none; slow falls behind, its own
// client library drops what it has no room for, and the feed's count keeps
// climbing at the same pace, because a NATS publisher never waits for a
// subscriber.
func RunDemo(ctx context.Context, connect Connect, out io.Writer, opts DemoOptions) error {
	g := opts.Group
	if g == nil {
		g = NewGroup(DemoSubscribers())
	}
	every := opts.Every
	if every <= 0 {
		every = time.Second
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	p := newPrinter(out, g.Specs(), cancel)
	p.legend(g.Specs(), opts.Quiet)

	start := time.Now()
	var published uint64
	if opts.Published != nil {
		published = opts.Published()
	}
	var eg errgroup.Group
	eg.Go(func() error {
		defer cancel() // the subscribers are done: so are the summaries
		var each func(string, shared.Tick)
		if !opts.Quiet {
			each = p.tick
		}
		return g.Run(ctx, connect, opts.Log, each)
	})
	eg.Go(func() error {
		ticker := time.NewTicker(every)
		defer ticker.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-ticker.C:
			}
			previous := published
			if opts.Published != nil {
				published = opts.Published()
			}
			head := fmt.Sprintf("== %s", time.Since(start).Round(every))
			if opts.Published != nil && published >= previous {
				head += fmt.Sprintf("  feed published #%d, +%d in the last %s: it never waits for a subscriber",
					published, published-previous, every)
			}
			p.summary(head, g, published, opts.Published != nil)
		}
	})
	err := eg.Wait()

	// The subscribers have returned: these numbers are final.
	if opts.Published != nil {
		published = opts.Published()
	}
	head := fmt.Sprintf("== final after %s", time.Since(start).Round(100*time.Millisecond))
	if opts.Published != nil {
		head += fmt.Sprintf(": the feed published #%d", published)
	}
	p.summary(head, g, published, opts.Published != nil)
	p.verdict(g)
	if err != nil {
		return err
	}
	return p.failure()
}

// printer serialises the demo's lines: messages arrive on every subscriber's
// goroutine, summaries on their own. A failed write stops the demo.
type printer struct {
	mu    sync.Mutex
	w     io.Writer
	err   error
	stop  context.CancelFunc
	width int // of the longest subscriber name, so the columns line up
}

func newPrinter(w io.Writer, specs []Spec, stop context.CancelFunc) *printer {
	p := &printer{w: w, stop: stop}
	for _, s := range specs {
		p.width = max(p.width, len(s.Name))
	}
	return p
}

func (p *printer) printf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return
	}
	if _, err := fmt.Fprintf(p.w, format, args...); err != nil {
		p.err = err
		p.stop()
	}
}

func (p *printer) failure() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return fmt.Errorf("natspubsub: demo output: %w", p.err)
	}
	return nil
}

// legend says who listens to what, before the first message.
func (p *printer) legend(specs []Spec, quiet bool) {
	what := "every line is one message one of them received"
	if quiet {
		what = "summaries only"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d subscribers, each on its own NATS connection; %s\n", len(specs), what)
	for _, s := range specs {
		fmt.Fprintf(&b, "  [%-*s] %-12s %s\n", p.width, s.Name, s.Subject, s.About)
	}
	p.printf("%s", b.String())
}

// tick prints one received message:
//
//	[all ] ticks.ACME     #1042    ACME       101.3700     0.3 ms
//
// The subject is the tick's own: the feed publishes each tick on
// ticks.<its symbol>.
func (p *printer) tick(name string, t shared.Tick) {
	latency := time.Since(time.UnixMicro(t.TUs))
	p.printf("[%-*s] %-14s #%-7d %-8s %10.4f %8.1f ms\n",
		p.width, name, shared.TickSubject(t.Symbol), t.Seq, t.Symbol, t.Price, ms(latency))
}

// summary prints head and one line per subscriber:
//
//	== [slow] ticks.>      recv    412  dropped   371  pending   20  gaps   370  behind   21  p50 2004.1 ms  slow-consumer reports 35
//
// gaps and behind are "-" for a subject that skips seqs by design.
func (p *printer) summary(head string, g *Group, published uint64, showBehind bool) {
	var b strings.Builder
	b.WriteString("\n") // a blank line sets the block apart from the message lines
	b.WriteString(head)
	b.WriteByte('\n')
	for _, s := range g.Snapshot() {
		gaps, behind := "-", "-"
		if s.SeesEveryTick {
			gaps = fmt.Sprint(s.Gaps)
			if showBehind && s.LastSeq > 0 && published >= s.LastSeq {
				behind = fmt.Sprint(published - s.LastSeq)
			}
		}
		fmt.Fprintf(&b, "== [%-*s] %-12s recv %6d  dropped %5d  pending %4d  gaps %5s  behind %4s  p50 %7.1f ms",
			p.width, s.Name, s.Subject, s.Received, s.Dropped, s.Pending, gaps, behind, s.LatencyP50Ms)
		if s.SlowConsumerEvents > 0 {
			fmt.Fprintf(&b, "  slow-consumer reports %d", s.SlowConsumerEvents)
		}
		if s.Invalid > 0 {
			fmt.Fprintf(&b, "  invalid %d", s.Invalid)
		}
		b.WriteByte('\n')
	}
	p.printf("%s", b.String())
}

// verdict names, in one line, who lost ticks to their own slowness and who
// lost none.
func (p *printer) verdict(g *Group) {
	var lost, fine []string
	for _, s := range g.Snapshot() {
		if s.Dropped > 0 {
			lost = append(lost, fmt.Sprintf("[%s] %d (pending limit %d)", s.Name, s.Dropped, s.PendingLimit))
		} else {
			fine = append(fine, "["+s.Name+"]")
		}
	}
	line := "== dropped by a subscriber's own client library: "
	if len(lost) > 0 {
		line += strings.Join(lost, ", ")
	} else {
		line += "nothing"
	}
	if len(fine) > 0 {
		line += "; none for " + strings.Join(fine, " ")
	}
	p.printf("%s. The publisher never waited for any of them.\n", line)
}

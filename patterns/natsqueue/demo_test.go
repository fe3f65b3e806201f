package natsqueue

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"commlab/shared/labtest"
)

// runFeed runs the lab's feed on its clock at rate ticks/s until the test
// ends; at rate 0 it waits, paused, for SetRate. At the end it waits for the
// stream's acks of what the feed published, while the broker still runs.
func runFeed(t *testing.T, tl *testLab, rate int) {
	t.Helper()
	if err := tl.Feed.SetRate(rate); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tl.Feed.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("feed: %v", err)
		}
		flushCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := tl.pub.Flush(flushCtx); err != nil {
			t.Errorf("publisher: %v", err)
		}
	})
}

var (
	summaryRE = regexp.MustCompile(`core: published (\d+), processed (\d+), lost (\d+) \(at-most-once[^)]*\) \| ` +
		`jetstream: published (\d+), processed (\d+), redelivered (\d+), dead-lettered (\d+), pending (\d+), backlog (\d+) \(at-least-once: ([^)]*)\)` +
		`(?: \| core still in flight: (\d+))? \| publisher: skipped (\d+), failed (\d+)`)
	heldRE = regexp.MustCompile(`killed core-1: it held (\d+) ticks?`)
	rowRE  = regexp.MustCompile(`(?m)^\s+\d+\.\ds \|`) // a row of the table
)

// demoSummary is the demo's final line, parsed.
type demoSummary struct {
	corePublished, coreProcessed, coreLost                                      uint64
	jsPublished, jsProcessed, jsRedelivered, jsDeadLettered, jsPending, backlog uint64
	books                                                                       string
	coreInFlight, skipped, failed                                               uint64
}

// nothingLost is the JetStream books' verdict when they balance.
const nothingLost = "processed + dead-lettered = published + backlog: nothing lost"

func parseSummary(t *testing.T, out string) demoSummary {
	t.Helper()
	m := summaryRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no summary line in the output:\n%s", out)
	}
	n := func(i int) uint64 {
		if m[i] == "" {
			return 0 // an optional part that is not there
		}
		v, err := strconv.ParseUint(m[i], 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	return demoSummary{n(1), n(2), n(3), n(4), n(5), n(6), n(7), n(8), n(9), m[10], n(11), n(12), n(13)}
}

// startDemo runs RunDemo on its own goroutine as `commlab demo queue` does:
// the feed waits, paused, until the demo's workers have joined, and pauses
// again when the demo ends. It returns the demo's output and its result.
func startDemo(t *testing.T, rate int, in io.Reader, opts DemoOptions) (*syncBuffer, <-chan error) {
	t.Helper()
	tl := startLab(t)
	runFeed(t, tl, 0)
	opts.StartFeed = func() { _ = tl.Feed.SetRate(rate) }
	opts.StopFeed = func() { _ = tl.Feed.SetRate(0) }
	opts.Publisher = tl.pub
	if opts.SettleMargin == 0 {
		opts.SettleMargin = 100 * time.Millisecond
	}
	opts.Log = testLogger(t)
	out := new(syncBuffer)
	done := make(chan error, 1)
	go func() { done <- RunDemo(t.Context(), tl.Broker.Connect, out, in, opts) }()
	return out, done
}

// checkBooks checks the summary's accounts: the core queue's add up, the
// JetStream queue's balance, one publish fed both, and the publisher stored
// every tick.
func checkBooks(t *testing.T, s demoSummary) {
	t.Helper()
	if s.coreProcessed+s.coreLost != s.corePublished || s.coreInFlight != 0 {
		t.Errorf("got core processed %d + lost %d (in flight %d), want published %d", s.coreProcessed, s.coreLost, s.coreInFlight, s.corePublished)
	}
	if s.jsProcessed+s.jsDeadLettered != s.jsPublished+s.backlog || s.jsPending != 0 || s.books != nothingLost {
		t.Errorf("got jetstream %+v, want processed + dead-lettered = published + backlog, none pending, %q", s, nothingLost)
	}
	// The pool started before the feed: both queues saw every tick, and
	// TICKWORK held nothing from before.
	if s.backlog != 0 || s.corePublished != s.jsPublished || s.skipped != 0 || s.failed != 0 {
		t.Errorf("got backlog %d, core published %d, jetstream published %d, skipped %d, failed %d; want no backlog, the same published, nothing skipped or failed",
			s.backlog, s.corePublished, s.jsPublished, s.skipped, s.failed)
	}
}

// TestDemoKillAfter runs the demo as `commlab demo queue --kill-after` would,
// with the feed faster than the workers so that they have backlogs. The core
// queue loses what core-1 held; the JetStream queue redelivers js-1's ticks
// and processes everything.
func TestDemoKillAfter(t *testing.T) {
	out, done := startDemo(t, 60, nil, DemoOptions{
		WorkTime:  60 * time.Millisecond, // 3 workers: 50 ticks/s, short of the feed's 60
		KillAfter: 700 * time.Millisecond,
		Duration:  1500 * time.Millisecond,
		Every:     250 * time.Millisecond,
	})
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	t.Logf("demo output:\n%s", out.String())

	s := parseSummary(t, out.String())
	checkBooks(t, s)
	m := heldRE.FindStringSubmatch(out.String())
	if m == nil {
		t.Fatal("no kill line for core-1 in the output")
	}
	held, _ := strconv.ParseUint(m[1], 10, 64)
	if s.coreLost == 0 || s.coreLost < held {
		t.Errorf("got core lost %d, core-1 held %d; want lost > 0 and at least what core-1 held", s.coreLost, held)
	}
	if s.jsRedelivered == 0 || s.jsDeadLettered != 0 {
		t.Errorf("got jetstream %+v, want some redelivered, none dead", s)
	}
	if rows := rowRE.FindAllString(out.String(), -1); len(rows) < 2 {
		t.Errorf("got %d table rows, want the live ones and the final one", len(rows))
	}
}

// TestDemoQuiet checks that --quiet leaves out the table, and only the table.
func TestDemoQuiet(t *testing.T) {
	out, done := startDemo(t, 40, nil, DemoOptions{
		WorkTime:  20 * time.Millisecond,
		KillAfter: 300 * time.Millisecond,
		Duration:  600 * time.Millisecond,
		Every:     100 * time.Millisecond,
		Quiet:     true,
	})
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	t.Logf("demo output:\n%s", out.String())
	if rows := regexp.MustCompile(`(?m)^\s+(time|\d+\.\ds) \|`).FindAllString(out.String(), -1); len(rows) != 0 {
		t.Errorf("got %d table lines in a quiet demo, want none: %q", len(rows), rows)
	}
	for _, want := range []string{"queue demo:", "killed core-1", "killed js-1", "feed stopped", "== queue"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("quiet output lacks %q", want)
		}
	}
	checkBooks(t, parseSummary(t, out.String()))
}

// TestDemoInterrupted ends the demo as Ctrl-C does: its ctx ends while the
// broker stays up. The demo waits at most interruptedDrain for the queues,
// then prints a summary whose books add up, whatever was still in flight.
func TestDemoInterrupted(t *testing.T) {
	tl := startLab(t)
	runFeed(t, tl, 0)
	ctx, interrupt := context.WithCancel(t.Context())
	out := new(syncBuffer)
	done := make(chan error, 1)
	go func() {
		done <- RunDemo(ctx, tl.Broker.Connect, out, nil, DemoOptions{
			WorkTime:  60 * time.Millisecond, // short of the feed: backlogs to drain
			StartFeed: func() { _ = tl.Feed.SetRate(60) },
			StopFeed:  func() { _ = tl.Feed.SetRate(0) },
			Publisher: tl.pub,
			Log:       testLogger(t),
		})
	}()
	labtest.WaitFor(t, "the first row", func() bool { return rowRE.MatchString(out.String()) })
	interrupt()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	t.Logf("demo output:\n%s", out.String())
	if !strings.Contains(out.String(), fmt.Sprintf("(at most %s)", interruptedDrain)) {
		t.Errorf("want the drain after an interrupt bounded by %s", interruptedDrain)
	}
	s := parseSummary(t, out.String())
	if s.coreProcessed+s.coreLost+s.coreInFlight != s.corePublished {
		t.Errorf("got core processed %d + lost %d + in flight %d, want published %d", s.coreProcessed, s.coreLost, s.coreInFlight, s.corePublished)
	}
	stored, handled := s.jsPublished+s.backlog, s.jsProcessed+s.jsDeadLettered
	if want := fmt.Sprintf("%d of published + backlog not processed yet, still in %s", stored-handled, StreamName); handled < stored && s.books != want {
		t.Errorf("got books %q, want %q", s.books, want)
	}
}

// TestDemoInteractive drives the demo from its input as a person would.
func TestDemoInteractive(t *testing.T) {
	in, typing := io.Pipe()
	defer typing.Close() // ends the demo's input reader
	out, done := startDemo(t, 40, in, DemoOptions{
		WorkTime: 30 * time.Millisecond,
		Every:    200 * time.Millisecond,
	})
	wait := func(text string) {
		t.Helper()
		labtest.WaitFor(t, fmt.Sprintf("%q in the output", text), func() bool { return strings.Contains(out.String(), text) })
	}
	wait("Type k and Enter")
	for _, step := range []struct{ line, want string }{
		{"k2", "killed js-2"},
		{"k2", "js-2 is already dead"},
		{"huh", `?? "huh"`},
		{"r2", "revived js-2"},
		{"q", "== queue"},
	} {
		fmt.Fprintln(typing, step.line)
		wait(step.want)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	t.Logf("demo output:\n%s", out.String())
	checkBooks(t, parseSummary(t, out.String()))
}

// syncBuffer is a bytes.Buffer the test may read while the demo writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

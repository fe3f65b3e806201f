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

// runFeed runs the lab's feed on its clock at rate ticks/s until the test ends.
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
	})
}

var (
	summaryRE = regexp.MustCompile(`core: published (\d+), processed (\d+), lost (\d+) \(at-most-once\) \| ` +
		`jetstream: published (\d+), processed (\d+), redelivered (\d+), dead-lettered (\d+), pending (\d+) \(at-least-once: ([^)]*)\)`)
	heldRE = regexp.MustCompile(`killed core-1: it held (\d+) ticks?`)
)

// demoSummary is the demo's final line, parsed.
type demoSummary struct {
	corePublished, coreProcessed, coreLost                             uint64
	jsPublished, jsProcessed, jsRedelivered, jsDeadLettered, jsPending uint64
	verdict                                                            string
}

func parseSummary(t *testing.T, out string) demoSummary {
	t.Helper()
	m := summaryRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no summary line in the output:\n%s", out)
	}
	n := func(i int) uint64 {
		v, err := strconv.ParseUint(m[i], 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	return demoSummary{n(1), n(2), n(3), n(4), n(5), n(6), n(7), n(8), m[9]}
}

// TestDemoKillAfter runs the demo as `commlab demo queue --kill-after` would,
// with the feed faster than the workers so that they have backlogs. The core
// queue loses what core-1 held; the JetStream queue redelivers js-1's ticks
// and processes everything.
func TestDemoKillAfter(t *testing.T) {
	tl := startLab(t)
	runFeed(t, tl, 60)
	var out bytes.Buffer
	err := RunDemo(t.Context(), tl.Broker.Connect, &out, nil, DemoOptions{
		WorkTime:     60 * time.Millisecond, // 3 workers: 50 ticks/s, short of the feed's 60
		KillAfter:    700 * time.Millisecond,
		Duration:     1500 * time.Millisecond,
		Every:        250 * time.Millisecond,
		StopFeed:     func() { _ = tl.Feed.SetRate(0) },
		SettleMargin: 100 * time.Millisecond,
		Log:          testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("demo output:\n%s", out.String())

	s := parseSummary(t, out.String())
	m := heldRE.FindStringSubmatch(out.String())
	if m == nil {
		t.Fatal("no kill line for core-1 in the output")
	}
	held, _ := strconv.ParseUint(m[1], 10, 64)
	if s.coreLost == 0 || s.coreLost < held {
		t.Errorf("got core lost %d, core-1 held %d; want lost > 0 and at least what core-1 held", s.coreLost, held)
	}
	if s.coreProcessed+s.coreLost != s.corePublished {
		t.Errorf("got core processed %d + lost %d, want published %d", s.coreProcessed, s.coreLost, s.corePublished)
	}
	if s.jsProcessed != s.jsPublished || s.jsRedelivered == 0 || s.jsPending != 0 || s.jsDeadLettered != 0 || s.verdict != "nothing lost" {
		t.Errorf("got jetstream %+v, want processed == published, some redelivered, none pending or dead", s)
	}
	// One publish feeds both. The core account leaves out the few ticks
	// published while the pool's workers were still joining the group.
	if s.corePublished > s.jsPublished || s.corePublished+10 < s.jsPublished {
		t.Errorf("got %d published to the stream, %d to the core queue; want about the same", s.jsPublished, s.corePublished)
	}
	if rows := regexp.MustCompile(`(?m)^\s+\d+\.\ds \|`).FindAllString(out.String(), -1); len(rows) < 4 {
		t.Errorf("got %d table rows, want one every 250ms", len(rows))
	}
}

// TestDemoInteractive drives the demo from its input as a person would.
func TestDemoInteractive(t *testing.T) {
	tl := startLab(t)
	runFeed(t, tl, 40)
	in, typing := io.Pipe()
	defer typing.Close() // ends the demo's input reader
	out := new(syncBuffer)
	done := make(chan error, 1)
	go func() {
		done <- RunDemo(t.Context(), tl.Broker.Connect, out, in, DemoOptions{
			WorkTime:     30 * time.Millisecond,
			Every:        200 * time.Millisecond,
			StopFeed:     func() { _ = tl.Feed.SetRate(0) },
			SettleMargin: 100 * time.Millisecond,
			Log:          testLogger(t),
		})
	}()
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
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("RunDemo did not return after q")
	}
	t.Logf("demo output:\n%s", out.String())
	if s := parseSummary(t, out.String()); s.verdict != "nothing lost" || s.jsProcessed != s.jsPublished || s.coreProcessed+s.coreLost != s.corePublished {
		t.Errorf("got %+v, want every JetStream tick processed and the core ticks accounted for", s)
	}
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

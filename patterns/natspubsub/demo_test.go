package natspubsub

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"commlab/shared/labtest"
)

// summaryLine matches a subscriber's summary line and captures its name,
// subject, received and dropped.
var summaryLine = regexp.MustCompile(`(?m)^== \[(\w+)\s*\] (\S+)\s+recv\s+(\d+)\s+dropped\s+(\d+)\s`)

// TestRunDemo runs the demo against a real lab whose feed runs on its clock, at
// 200 ticks/s, until the slow subscriber has dropped ticks. The final summary
// must show it: slow dropped some, all, acme and wild none.
func TestRunDemo(t *testing.T) {
	for _, quiet := range []bool{false, true} {
		t.Run("quiet="+strconv.FormatBool(quiet), func(t *testing.T) {
			lab := labtest.Start(t, nil)
			group := NewGroup(DemoSubscribers())
			var out bytes.Buffer // read only after RunDemo returned
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			var demoErr error
			go func() {
				defer close(done)
				demoErr = RunDemo(ctx, lab.Broker.Connect, &out, DemoOptions{
					Group: group, Quiet: quiet, Every: 100 * time.Millisecond,
					Published: lab.Feed.LastSeq, Log: testLogger(t),
				})
			}()
			stopDemo := func() error {
				cancel()
				select {
				case <-done:
					return demoErr
				case <-time.After(10 * time.Second):
					return errors.New("RunDemo did not return within 10s of cancel")
				}
			}
			t.Cleanup(func() { _ = stopDemo() }) // if the test ends early
			for _, s := range group.Specs() {
				labtest.WaitFor(t, s.Name+" to subscribe", group.Stats(s.Name).Subscribed.Load)
			}

			runFeed(t, lab, 200, func() bool {
				return group.Stats("slow").Dropped.Load() > 0 && group.Stats("acme").Received.Load() > 0
			})
			last := lab.Feed.LastSeq()
			labtest.WaitFor(t, "all and wild to get the last tick", func() bool {
				return group.Stats("all").LastSeq.Load() == last && group.Stats("wild").LastSeq.Load() == last
			})
			if err := stopDemo(); err != nil {
				t.Fatalf("got RunDemo error %v, want nil", err)
			}
			text := out.String()
			t.Logf("demo output, the end:\n%s", tail(text, 12))

			_, final, ok := strings.Cut(text, "== final")
			if !ok {
				t.Fatal("no final summary in the output")
			}
			lines := summaryLine.FindAllStringSubmatch(final, -1)
			if len(lines) != 4 {
				t.Fatalf("got %d subscriber lines in the final summary, want 4", len(lines))
			}
			for _, l := range lines {
				name, subject := l[1], l[2]
				recv, _ := strconv.ParseUint(l[3], 10, 64)
				dropped, _ := strconv.ParseUint(l[4], 10, 64)
				if recv == 0 {
					t.Errorf("[%s] %s: got recv 0, want ticks", name, subject)
				}
				if slow := name == "slow"; slow != (dropped > 0) {
					t.Errorf("[%s] %s: got dropped %d; want drops only for slow", name, subject, dropped)
				}
				if name == "all" || name == "wild" {
					if recv != last {
						t.Errorf("[%s] %s: got recv %d, want every tick, %d", name, subject, recv, last)
					}
				}
			}
			if !strings.Contains(final, "feed published #"+strconv.FormatUint(last, 10)) {
				t.Errorf("final summary does not say the feed published #%d", last)
			}

			tickLines := regexp.MustCompile(`(?m)^\[(\w+)\s*\] (ticks\.\w+)\s`).FindAllStringSubmatch(text, -1)
			if quiet {
				if len(tickLines) != 0 {
					t.Errorf("quiet: got %d message lines, want none", len(tickLines))
				}
				return
			}
			seen := make(map[string]int)
			for _, l := range tickLines {
				seen[l[1]]++
				if l[1] == "acme" && l[2] != "ticks.ACME" {
					t.Errorf("got an [acme] line for %s", l[2])
				}
			}
			for _, name := range []string{"all", "acme", "wild", "slow"} {
				if seen[name] == 0 {
					t.Errorf("got no message lines for [%s]", name)
				}
			}
		})
	}
}

// runFeed runs the lab's feed on its clock at rate until enough holds, then
// stops it.
func runFeed(t *testing.T, lab *labtest.Lab, rate int, enough func() bool) {
	t.Helper()
	if err := lab.Feed.SetRate(rate); err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- lab.Feed.Run(ctx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("feed: %v", err)
		}
	}()
	labtest.WaitFor(t, "the feed to have run long enough", enough)
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// TestRunDemoConnectFails checks that a demo that cannot connect says which
// subscriber failed.
func TestRunDemoConnectFails(t *testing.T) {
	refused := errors.New("connection refused")
	connect := func(name string, _ ...nats.Option) (*nats.Conn, error) { return nil, refused }
	var out bytes.Buffer
	err := RunDemo(context.Background(), connect, &out, DemoOptions{})
	if !errors.Is(err, refused) || !strings.Contains(err.Error(), "all") {
		t.Errorf("got %v, want the connect error naming subscriber all", err)
	}
}

// TestRunDemoOutputFails checks that the demo stops, with the error, when its
// output cannot be written, instead of running on unseen.
func TestRunDemoOutputFails(t *testing.T) {
	lab := labtest.Start(t, nil)
	broken := errors.New("broken pipe")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := RunDemo(ctx, lab.Broker.Connect, failingWriter{broken}, DemoOptions{Every: 10 * time.Millisecond})
	if ctx.Err() != nil {
		t.Fatal("RunDemo ran on until the test's deadline")
	}
	if !errors.Is(err, broken) {
		t.Errorf("got %v, want the write error", err)
	}
}

type failingWriter struct{ err error }

func (w failingWriter) Write([]byte) (int, error) { return 0, w.err }

// TestGroupSnapshot checks the JSON the lab's /api/stats shows per subscriber.
func TestGroupSnapshot(t *testing.T) {
	g := NewGroup(DemoSubscribers())
	g.Stats("slow").Dropped.Add(7)
	g.Stats("slow").Received.Add(3)
	if g.Stats("nobody") != nil {
		t.Error("got stats for an unknown subscriber, want nil")
	}
	b, err := json.Marshal(g.Snapshot())
	if err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 {
		t.Fatalf("got %d subscribers, want 4", len(got))
	}
	slow := got[3]
	for key, want := range map[string]any{
		"name": "slow", "subject": "ticks.>", "pending_limit": 20.0, "delay_ms": 100.0,
		"sees_every_tick": true, "received": 3.0, "dropped": 7.0, "pending": 0.0,
		"gaps": 0.0, "dups": 0.0, "invalid": 0.0, "slow_consumer_events": 0.0,
		"last_seq": 0.0, "latency_p50_ms": 0.0, "latency_p99_ms": 0.0, "subscribed": false,
	} {
		if slow[key] != want {
			t.Errorf("got %q = %v, want %v", key, slow[key], want)
		}
	}
	if len(slow) != 16 {
		t.Errorf("got %d keys %v, want 16", len(slow), slow)
	}
	if got[1]["sees_every_tick"] != false {
		t.Errorf("acme: got sees_every_tick %v, want false", got[1]["sees_every_tick"])
	}
}

package main

import (
	"context"
	"regexp"
	"strconv"
	"testing"
)

// TestDemos runs every demo as the README shows it, briefly, and reads its final
// summary line the way a learner would.
func TestDemos(t *testing.T) {
	summaryRE := regexp.MustCompile(`== (\w+) +\d+s \| msgs (\d+) \| latency p50 [\d.]+ ms p99 [\d.]+ ms \| recv [\d.]+ (?:B|KiB) \| requests (\d+) \| reconnects \d+ \| gaps (\d+) dups (\d+)\n$`)
	for _, pattern := range []string{"poll", "longpoll", "sse", "ws"} {
		t.Run(pattern, func(t *testing.T) {
			t.Parallel()
			out := newOutput()
			args := []string{"commlab", "demo", pattern, "--for", "3s", "--rate", "50", "--data", t.TempDir()}
			if pattern == "poll" {
				args = append(args, "--interval", "250ms")
			}
			if err := run(context.Background(), args, func(string) string { return "" }, out, newOutput()); err != nil {
				t.Fatal(err)
			}
			m := summaryRE.FindStringSubmatch(out.String())
			if m == nil {
				t.Fatalf("no final summary line in:\n%s", out.String())
			}
			msgs, _ := strconv.Atoi(m[2])
			requests, _ := strconv.Atoi(m[3])
			if msgs < 10 || requests < 1 || m[4] != "0" || m[5] != "0" {
				t.Fatalf("summary %q: want msgs >= 10, requests >= 1, gaps 0, dups 0", m[0])
			}
			if !regexp.MustCompile(`(?m)^#\d+ +[A-Z]+ +[\d.]+ +[\d.]+ ms$`).MatchString(out.String()) {
				t.Fatalf("no tick lines in:\n%.500s", out.String())
			}
		})
	}
}

// TestNATSDemos runs the pub/sub and queue demos as the README shows them and
// reads their final summaries.
func TestNATSDemos(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want []*regexp.Regexp
	}{
		{[]string{"pubsub", "--for", "4s", "--quiet"}, []*regexp.Regexp{
			regexp.MustCompile(`== \[all \] ticks\.> +recv +\d+ +dropped +0 `),
			regexp.MustCompile(`== \[slow\] ticks\.> +recv +\d+ +dropped +[1-9]`),
			regexp.MustCompile(`The publisher never waited`),
		}},
		{[]string{"queue", "--kill-after", "3s", "--for", "6s"}, []*regexp.Regexp{
			regexp.MustCompile(`killed core-1`),
			regexp.MustCompile(`jetstream: published (\d+), processed (\d+),`),
		}},
	} {
		t.Run(tt.args[0], func(t *testing.T) {
			t.Parallel()
			out := newOutput()
			args := append([]string{"commlab", "demo"}, tt.args...)
			args = append(args, "--data", t.TempDir())
			if err := run(context.Background(), args, func(string) string { return "" }, out, newOutput()); err != nil {
				t.Fatal(err)
			}
			for _, re := range tt.want {
				m := re.FindStringSubmatch(out.String())
				if m == nil {
					t.Fatalf("output lacks %s:\n%s", re, out.String())
				}
				if len(m) == 3 && m[1] != m[2] {
					t.Errorf("JetStream lost work: %s", m[0])
				}
			}
		})
	}
}

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

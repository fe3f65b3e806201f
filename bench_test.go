package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// benchFields are the fields every --json object carries: the contract's
// (README.md, "Measuring"), then this bench's additions.
var benchFields = []string{
	"pattern", "clients", "duration_s", "delivered", "expected", "gaps", "dups", "msgs_per_s",
	"p50_ms", "p99_ms", "max_ms", "bytes_per_tick", "requests",
	"p90_ms", "connected", "failed", "requests_per_tick", "server_cpu_us_per_tick", "server_mem_per_conn_kib",
	"server_idle_cpu_pct", "window_ticks", "rate", "reconnects",
}

// testLab starts labs from this test binary, which runs main when
// COMMLAB_TEST_MAIN=1 (see TestMain): a real process per lab, as bench's own.
func testLab() labProcess {
	return labProcess{exe: os.Args[0], env: append(os.Environ(), "COMMLAB_TEST_MAIN=1")}
}

// A small, fast load: a few clients for a second. --drain is generous
// because it ends as soon as every tick has arrived, and must not end early
// on a slow CI machine under the race detector.
var smallBench = []string{"--json", "--clients", "3", "--rate", "50", "--duration", "1s",
	"--warmup", "100ms", "--poll-interval", "100ms", "--drain", "30s"}

// runBenchJSON runs bench with args and returns its JSON objects by pattern.
func runBenchJSON(t *testing.T, lab labProcess, args ...string) (map[string]map[string]any, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	if err := runBench(ctx, args, &stdout, &stderr, lab); err != nil {
		t.Fatalf("bench: %v\nstderr:\n%s", err, stderr.String())
	}
	results := make(map[string]map[string]any)
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		var obj map[string]any
		if err := json.Unmarshal(sc.Bytes(), &obj); err != nil {
			t.Fatalf("stdout line %q is not JSON: %v", sc.Text(), err)
		}
		for _, f := range benchFields {
			if _, ok := obj[f]; !ok {
				t.Errorf("%v: no field %q in %s", obj["pattern"], f, sc.Text())
			}
		}
		results[obj["pattern"].(string)] = obj
	}
	return results, stderr.String()
}

// checkDelivery holds a pattern to its promise over the window: every client
// connected, and every tick delivered, none missing, none twice. Even short
// polling promises that much: each request asks for the ticks after the last.
func checkDelivery(t *testing.T, res map[string]map[string]any, pattern string) {
	t.Helper()
	r, ok := res[pattern]
	if !ok {
		t.Errorf("%s: no result", pattern)
		return
	}
	num := func(f string) float64 { v, _ := r[f].(float64); return v }
	if num("connected") != num("clients") || num("failed") != 0 {
		t.Errorf("%s: connected %v of %v clients, failed %v", pattern, r["connected"], r["clients"], r["failed"])
	}
	if num("expected") == 0 {
		t.Errorf("%s: expected 0 ticks: the window saw none", pattern)
	}
	if num("gaps") != 0 || num("dups") != 0 {
		t.Errorf("%s: gaps %v dups %v, want 0 0 (note: %v)", pattern, r["gaps"], r["dups"], r["note"])
	}
	if num("delivered") != num("expected") {
		t.Errorf("%s: delivered %v, want expected %v (note: %v)", pattern, r["delivered"], r["expected"], r["note"])
	}
}

// TestBenchAgainstLabs runs bench end to end at a small scale: labs started
// as processes of their own, every pattern's clients, the JSON report.
func TestBenchAgainstLabs(t *testing.T) {
	t.Run("one pattern per lab", func(t *testing.T) {
		res, stderr := runBenchJSON(t, testLab(), append(smallBench, "--patterns", "longpoll,pubsub")...)
		for _, p := range []string{"longpoll", "pubsub"} {
			checkDelivery(t, res, p)
			if res[p]["server_cpu_us_per_tick"] == nil || res[p]["server_mem_per_conn_kib"] == nil {
				t.Errorf("%s: no server figures, though the lab has /metrics\nstderr:\n%s", p, stderr)
			}
		}
	})
	t.Run("all patterns together", func(t *testing.T) {
		res, stderr := runBenchJSON(t, testLab(), append(smallBench, "--together")...)
		if len(res) != 6 {
			t.Fatalf("got results for %d patterns, want 6\nstderr:\n%s", len(res), stderr)
		}
		for _, p := range []string{"poll", "longpoll", "sse", "ws", "pubsub", "queue"} {
			checkDelivery(t, res, p)
		}
		// The queue's workers are in a group of their own: they share the
		// window's ticks, each once, beside the lab's own workers.
		if q := res["queue"]; q["expected"] != q["window_ticks"] {
			t.Errorf("queue: expected %v, want the window's %v ticks once across the group", q["expected"], q["window_ticks"])
		}
	})
	t.Run("serve flags reach the labs", func(t *testing.T) {
		// With --linger 50ms and a tick every 20 ms, the first tick of every
		// batch waits the whole 50 ms, and a batch holds two or three ticks
		// (at most four, if the feed's clock jitters): at least a quarter
		// of the ticks, a cautious bound, arrive 50 ms late or later.
		res, stderr := runBenchJSON(t, testLab(), append(smallBench, "--patterns", "sse,ws", "--serve-flags", "--linger 50ms")...)
		for _, p := range []string{"sse", "ws"} {
			checkDelivery(t, res, p)
			if p90, _ := res[p]["p90_ms"].(float64); p90 < 50 {
				t.Errorf("%s: p90 %v ms, want at least the 50 ms linger\nstderr:\n%s", p, p90, stderr)
			}
		}
		if !strings.Contains(stderr, "the labs were started with --linger 50ms") {
			t.Errorf("no note on the serve flags in stderr:\n%s", stderr)
		}
	})
}

func TestBenchServeFlagsAreChecked(t *testing.T) {
	var stdout, stderr bytes.Buffer
	err := runBench(context.Background(), []string{"--url", "http://127.0.0.1:1", "--serve-flags", "--linger 1ms"}, &stdout, &stderr, labProcess{})
	if err == nil || !strings.Contains(err.Error(), "--serve-flags") {
		t.Errorf("got %v, want an error saying --serve-flags needs labs bench starts", err)
	}
	for _, tt := range []struct{ flags, want string }{
		{"--rate 5", "bench sets that one itself: use bench's own --rate"},
		{"--linger 1ms -rate=5", "bench sets that one itself"},
		{"--nats-url nats://127.0.0.1:1", "bench sets that one itself"},
		{"--nats-patterns=true", "bench sets that one itself"},
		{"--addr :0", "bench sets that one itself"},
		// Checked before any lab starts, as serve would check them.
		{"--bogus", "flag provided but not defined: -bogus"},
		{"--linger 2s", "--linger 2s: want 0..1s"},
	} {
		err := runBench(context.Background(), []string{"--serve-flags", tt.flags}, &stdout, &stderr, labProcess{})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("--serve-flags %q: got %v, want an error with %q", tt.flags, err, tt.want)
		}
	}
}

// TestBenchAgainstAnotherServer points --url at an independent implementation
// of the contract: bench must measure its HTTP patterns, and say what it
// cannot do there (no NATS, no /metrics, no /api/rate).
func TestBenchAgainstAnotherServer(t *testing.T) {
	url := startContractServer(t, 20*time.Millisecond)
	res, stderr := runBenchJSON(t, labProcess{}, append(smallBench, "--url", url)...)
	for _, p := range []string{"poll", "longpoll", "sse", "ws"} {
		checkDelivery(t, res, p)
		if res[p]["server_cpu_us_per_tick"] != nil {
			t.Errorf("%s: server CPU %v from a server that has no /metrics", p, res[p]["server_cpu_us_per_tick"])
		}
	}
	for _, p := range []string{"pubsub", "queue"} {
		if _, ok := res[p]; ok {
			t.Errorf("%s measured on a server without NATS", p)
		}
		if !strings.Contains(stderr, p+" skipped: the server's /api/info names no NATS URL") {
			t.Errorf("no note that %s was skipped; stderr:\n%s", p, stderr)
		}
	}
	if !strings.Contains(stderr, "--rate 50 not applied: the server has no POST /api/rate") {
		t.Errorf("no note that the rate could not be set; stderr:\n%s", stderr)
	}
	if got := slices.Sorted(maps.Keys(res)); len(got) != 4 {
		t.Errorf("patterns measured: %v, want poll, longpoll, sse, ws", got)
	}
}

// TestBenchAgainstARunningLab points --url at a lab that is already serving,
// as `go run .` would be: bench sets its feed rate through POST /api/rate and
// puts the old one back, finds its NATS in /api/info, and shares the queue's
// subject with the lab's own workers without taking their ticks.
func TestBenchAgainstARunningLab(t *testing.T) {
	url, _ := startRun(t, "--rate", "20")
	res, stderr := runBenchJSON(t, labProcess{}, append(smallBench, "--url", url, "--patterns", "ws,queue")...)
	for _, p := range []string{"ws", "queue"} {
		checkDelivery(t, res, p)
		if res[p]["server_cpu_us_per_tick"] == nil {
			t.Errorf("%s: no server CPU figure, though the lab has /metrics", p)
		}
	}
	if !strings.Contains(stderr, "feed rate was set to 50 ticks/s with POST /api/rate, and put back afterwards") {
		t.Errorf("no note that the rate was set; stderr:\n%s", stderr)
	}
	_, _, body := get(t, url+"/api/info")
	var info struct{ Rate int }
	if err := json.Unmarshal(body, &info); err != nil || info.Rate != 20 {
		t.Errorf("after bench the lab's rate is %d (%v), want 20 again", info.Rate, err)
	}
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	ws "github.com/coder/websocket"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"commlab/patterns/natsqueue"
	"commlab/shared/labtest"
)

// output is a goroutine-safe writer that lets a test wait for a line, the way a
// user waits for the URL that commlab prints.
type output struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{}
}

func newOutput() *output { return &output{changed: make(chan struct{})} }

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	close(o.changed)
	o.changed = make(chan struct{})
	return o.buf.Write(p)
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// waitFor waits until the output matches re and returns the first submatch.
func (o *output) waitFor(t *testing.T, re *regexp.Regexp, timeout time.Duration) string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		o.mu.Lock()
		m := re.FindStringSubmatch(o.buf.String())
		changed := o.changed
		o.mu.Unlock()
		if m != nil {
			return m[len(m)-1]
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("output never matched %s; got:\n%s", re, o.String())
		}
	}
}

var servingRE = regexp.MustCompile(`commlab serving on (http://\S+)`)

// startRun runs the lab through run, as main does, on free ports. It returns the
// lab's URL and a stop function that cancels run and returns its error.
func startRun(t *testing.T, extra ...string) (url string, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stdout, stderr := newOutput(), newOutput()
	args := append([]string{"commlab", "--addr", "127.0.0.1:0", "--nats-listen", "127.0.0.1:0", "--data", t.TempDir()}, extra...)
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, func(string) string { return "" }, stdout, stderr) }()
	select {
	case err := <-done:
		cancel()
		t.Fatalf("run returned before serving: %v\nstderr:\n%s", err, stderr.String())
	default:
	}
	url = stdout.waitFor(t, servingRE, 20*time.Second)
	var once sync.Once
	var runErr error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(10 * time.Second):
				t.Fatalf("run did not return within 10s of cancel; stderr:\n%s", stderr.String())
			}
		})
		return runErr
	}
	t.Cleanup(func() { _ = stop() })
	return url, stop
}

func get(t *testing.T, url string) (int, http.Header, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, body
}

func TestRunServesEveryEndpoint(t *testing.T) {
	url, stop := startRun(t, "--rate", "100")

	t.Run("healthz", func(t *testing.T) {
		code, _, body := get(t, url+"/healthz")
		if code != 200 || string(body) != "ok" {
			t.Fatalf("got %d %q, want 200 \"ok\"", code, body)
		}
	})
	t.Run("info", func(t *testing.T) {
		code, _, body := get(t, url+"/api/info")
		var info struct {
			Epoch    string                     `json:"epoch"`
			Symbols  []string                   `json:"symbols"`
			Rate     int                        `json:"rate"`
			History  int                        `json:"history"`
			LingerMs *float64                   `json:"linger_ms"`
			Patterns map[string]json.RawMessage `json:"patterns"`
		}
		if err := json.Unmarshal(body, &info); code != 200 || err != nil {
			t.Fatalf("got %d %s (%v)", code, body, err)
		}
		if info.Epoch == "" || len(info.Symbols) != 8 || info.Rate != 100 || info.History != 10_000 || info.LingerMs == nil || *info.LingerMs != 0 {
			t.Fatalf("got %+v", info)
		}
		for _, p := range []string{"poll", "longpoll", "sse", "ws"} {
			if _, ok := info.Patterns[p]; !ok {
				t.Errorf("patterns lack %q: %s", p, body)
			}
		}
	})
	t.Run("poll", func(t *testing.T) {
		for _, query := range []string{"?since=0&wait=5s", "", "?since=0&limit=3"} {
			code, _, body := get(t, url+"/api/poll"+query)
			if code != 200 || !bytes.Contains(body, []byte(`"seq":`)) {
				t.Fatalf("%s: got %d %s", query, code, body)
			}
		}
	})
	t.Run("sse", func(t *testing.T) {
		resp, err := http.Get(url + "/api/sse?since=0")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
			t.Fatalf("content type %q", ct)
		}
		buf := make([]byte, 4096)
		var got []byte
		for !bytes.Contains(got, []byte("event: tick")) {
			n, err := resp.Body.Read(buf)
			if err != nil {
				t.Fatalf("read: %v (got %q)", err, got)
			}
			got = append(got, buf[:n]...)
		}
	})
	t.Run("ws", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, _, err := ws.Dial(ctx, strings.Replace(url, "http", "ws", 1)+"/api/ws?since=0", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		typ, msg, err := c.Read(ctx)
		if err != nil || typ != ws.MessageText || !bytes.Contains(msg, []byte(`"seq":`)) {
			t.Fatalf("got %v %s %v", typ, msg, err)
		}
		c.Close(ws.StatusNormalClosure, "")
	})
	t.Run("rate", func(t *testing.T) {
		resp, err := http.Post(url+"/api/rate?rate=50", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("got %d", resp.StatusCode)
		}
		resp, err = http.Post(url+"/api/rate?rate=fast", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Fatalf("bad rate: got %d, want 400", resp.StatusCode)
		}
	})
	t.Run("stats", func(t *testing.T) {
		code, _, body := get(t, url+"/api/stats")
		var stats struct {
			Rate     int                       `json:"rate"`
			Patterns map[string]map[string]int `json:"patterns"`
			PubSub   []struct {
				Name     string `json:"name"`
				Received int    `json:"received"`
			} `json:"pubsub"`
		}
		if err := json.Unmarshal(body, &stats); code != 200 || err != nil {
			t.Fatalf("got %d %s (%v)", code, body, err)
		}
		if stats.Rate != 50 {
			t.Errorf("rate %d after POST /api/rate?rate=50", stats.Rate)
		}
		for _, p := range []string{"poll", "longpoll", "sse", "ws"} {
			if stats.Patterns[p]["requests"] < 1 {
				t.Errorf("pattern %s: %v, want requests >= 1", p, stats.Patterns[p])
			}
		}
		if len(stats.PubSub) != 4 {
			t.Errorf("pubsub: got %d subscribers %+v, want 4", len(stats.PubSub), stats.PubSub)
		}
	})
	t.Run("metrics", func(t *testing.T) {
		code, _, body := get(t, url+"/metrics")
		for _, want := range []string{`commlab_messages_sent_total{pattern="sse"}`, `commlab_bad_input_total{pattern="api",reason="rate"} 1`, "process_cpu_seconds_total"} {
			if code != 200 || !bytes.Contains(body, []byte(want)) {
				t.Errorf("metrics lack %s", want)
			}
		}
	})
	t.Run("dashboard", func(t *testing.T) {
		code, _, body := get(t, url+"/")
		if code != 200 || !bytes.Contains(body, []byte("<title>commlab")) {
			t.Fatalf("got %d %.80s", code, body)
		}
	})
	t.Run("unknown api path", func(t *testing.T) {
		code, _, body := get(t, url+"/api/nope")
		if code != 404 || !bytes.Contains(body, []byte(`"error"`)) {
			t.Fatalf("got %d %s, want 404 JSON error", code, body)
		}
	})

	if err := stop(); err != nil {
		t.Fatalf("run returned %v, want nil", err)
	}
}

func TestRunRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"commlab", "--rate", "-1"},
		{"commlab", "--history", "0"},
		{"commlab", "--linger", "2s"},
		{"commlab", "--linger", "-1ms"},
		{"commlab", "--no-such-flag"},
		{"commlab", "frobnicate"},
		{"commlab", "demo", "carrier-pigeon"},
		{"commlab", "serve", "extra", "--rate", "5"},
		{"commlab", "demo", "sse", "--symbols", "ACME"},
		{"commlab", "demo", "longpoll", "--wait", "31s"},
		{"commlab", "demo", "ws", "--for", "-1s"},
	} {
		err := run(context.Background(), args, func(string) string { return "" }, io.Discard, io.Discard)
		if err == nil {
			t.Errorf("run(%q) = nil, want an error", args)
		}
	}
}

func TestHelpNamesEveryFlag(t *testing.T) {
	for _, cmd := range []string{"serve", "demo"} {
		out := newOutput()
		if err := run(context.Background(), []string{"commlab", "help", cmd}, func(string) string { return "" }, out, io.Discard); err != nil {
			t.Fatal(err)
		}
		for _, flag := range []string{"-addr", "-nats-url", "-nats-listen", "-data", "-rate", "-seed", "-history"} {
			if !strings.Contains(out.String(), flag) {
				t.Errorf("help %s lacks %s", cmd, flag)
			}
		}
	}
}

// TestRunReportsBusyPorts: a second lab on the same ports must say which port is
// taken, and release what it had started.
func TestRunReportsBusyPorts(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, tt := range []struct{ name, flag, want string }{
		{"http", "--addr", "listen " + busy.Addr().String()},
		{"nats", "--nats-listen", "cannot listen on " + busy.Addr().String()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{"commlab", "--addr", "127.0.0.1:0", "--nats-listen", "127.0.0.1:0", tt.flag, busy.Addr().String()}
			err := run(context.Background(), args, func(string) string { return "" }, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// TestLabEndpointsRefuseWrongMethods: the lab's own endpoints answer a wrong
// method with 405 and the contract's JSON error, and a foreign page may not
// change the rate.
func TestLabEndpointsRefuseWrongMethods(t *testing.T) {
	url, _ := startRun(t)
	for _, tt := range []struct{ method, path, origin string }{
		{http.MethodPost, "/api/info", ""},
		{http.MethodDelete, "/api/stats", ""},
		{http.MethodGet, "/api/rate?rate=5", ""},
		{http.MethodPost, "/metrics", ""},
		{http.MethodPost, "/api/rate?rate=5", "http://evil.example"},
	} {
		req, err := http.NewRequest(tt.method, url+tt.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		want := http.StatusMethodNotAllowed
		if tt.origin != "" {
			req.Header.Set("Origin", tt.origin)
			want = http.StatusForbidden
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want || !bytes.Contains(body, []byte(`"error"`)) {
			t.Errorf("%s %s (origin %q): got %d %s, want %d with a JSON error", tt.method, tt.path, tt.origin, resp.StatusCode, body, want)
		}
	}
}

// TestBytesBelongToTheirPattern: on one kept-alive connection, a poll and then
// the lab's own endpoints; the poll's byte count must not grow with the others.
func TestBytesBelongToTheirPattern(t *testing.T) {
	url, _ := startRun(t, "--rate", "100")
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1}}
	defer client.CloseIdleConnections()
	pollBytes := func() int {
		resp, err := client.Get(url + "/api/stats")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var stats struct {
			Patterns map[string]map[string]int `json:"patterns"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&stats); err != nil {
			t.Fatal(err)
		}
		return stats.Patterns["poll"]["bytes"]
	}
	resp, err := client.Get(url + "/api/poll")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	before := pollBytes()
	for range 3 {
		resp, err := client.Get(url + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if after := pollBytes(); before == 0 || after != before {
		t.Fatalf("poll bytes %d before /metrics, %d after: want equal and non-zero", before, after)
	}
}

// TestQueueWorkersFromTheAPI kills and revives the lab's queue workers through
// the endpoints the dashboard uses, and runs one more worker as `commlab worker`.
func TestQueueWorkersFromTheAPI(t *testing.T) {
	url, _ := startRun(t, "--rate", "50")
	post := func(path string) (int, []byte) {
		resp, err := http.Post(url+path, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, body
	}
	alive := func(name string) bool {
		_, _, body := get(t, url+"/api/stats")
		var stats struct {
			Queue struct {
				Workers []struct {
					Name  string `json:"name"`
					Alive bool   `json:"alive"`
				} `json:"workers"`
			} `json:"queue"`
		}
		if err := json.Unmarshal(body, &stats); err != nil {
			t.Fatal(err)
		}
		if len(stats.Queue.Workers) != 6 {
			t.Fatalf("queue workers: %s, want 6", body)
		}
		for _, w := range stats.Queue.Workers {
			if w.Name == name {
				return w.Alive
			}
		}
		t.Fatalf("no worker %q in %s", name, body)
		return false
	}

	if code, body := post("/api/queue/kill?worker=js-2"); code != 200 || !bytes.Contains(body, []byte(`"name":"js-2"`)) {
		t.Fatalf("kill: got %d %s", code, body)
	}
	if alive("js-2") {
		t.Fatal("js-2 alive after kill")
	}
	if code, body := post("/api/queue/revive?worker=js-2"); code != 200 {
		t.Fatalf("revive: got %d %s", code, body)
	}
	if !alive("js-2") {
		t.Fatal("js-2 dead after revive")
	}
	if code, body := post("/api/queue/kill?worker=nobody"); code != 400 || !bytes.Contains(body, []byte("core-1")) {
		t.Fatalf("kill nobody: got %d %s, want 400 naming the workers", code, body)
	}
}

// TestWorkerCommand joins a worker process's code path to a running lab's NATS.
func TestWorkerCommand(t *testing.T) {
	stdout := newOutput()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	labOut := newOutput()
	labDone := make(chan error, 1)
	go func() {
		labDone <- run(ctx, []string{"commlab", "--addr", "127.0.0.1:0", "--nats-listen", "127.0.0.1:0"}, func(string) string { return "" }, labOut, io.Discard)
	}()
	natsURL := labOut.waitFor(t, regexp.MustCompile(`NATS +(nats://\S+)`), 20*time.Second)

	workerCtx, stopWorker := context.WithCancel(ctx)
	workerDone := make(chan error, 1)
	go func() {
		args := []string{"commlab", "worker", "--kind", "jetstream", "--name", "extra", "--nats-url", natsURL}
		workerDone <- run(workerCtx, args, func(string) string { return "" }, stdout, io.Discard)
	}()
	stdout.waitFor(t, regexp.MustCompile(`worker extra \(jetstream\) on nats://`), 20*time.Second)
	stopWorker()
	if err := <-workerDone; err != nil {
		t.Fatalf("worker returned %v, want nil", err)
	}
	cancel()
	if err := <-labDone; err != nil {
		t.Fatalf("lab returned %v, want nil", err)
	}
}

// TestJetStreamWorkSurvivesARestart: with every JetStream worker dead, ticks
// pile up unacked in TICKWORK. Stop the lab, start it again on the same --data:
// the new workers find that backlog and process it.
func TestJetStreamWorkSurvivesARestart(t *testing.T) {
	data := t.TempDir()
	type queueStats struct {
		Queue struct {
			JetStream struct {
				Backlog   uint64 `json:"backlog"`
				Processed uint64 `json:"processed"`
				Pending   uint64 `json:"pending"`
				InStream  uint64 `json:"in_stream"`
			} `json:"jetstream"`
		} `json:"queue"`
	}
	read := func(url string) queueStats {
		_, _, body := get(t, url+"/api/stats")
		var s queueStats
		if err := json.Unmarshal(body, &s); err != nil {
			t.Fatal(err)
		}
		return s
	}

	url, stop := startRun(t, "--rate", "200", "--data", data)
	for _, w := range []string{"js-1", "js-2", "js-3"} {
		resp, err := http.Post(url+"/api/queue/kill?worker="+w, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	labtest.WaitFor(t, "100 ticks to wait in TICKWORK", func() bool { return read(url).Queue.JetStream.InStream >= 100 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	url, _ = startRun(t, "--rate", "0", "--data", data)
	var s queueStats
	labtest.WaitFor(t, "the restarted lab to work off its backlog", func() bool {
		s = read(url)
		return s.Queue.JetStream.InStream == 0
	})
	if js := s.Queue.JetStream; js.Backlog < 100 || js.Processed < js.Backlog {
		t.Fatalf("after the restart: %+v, want a backlog of at least 100, all processed", js)
	}
	t.Logf("backlog found after the restart: %d ticks, all processed", s.Queue.JetStream.Backlog)
}

// TestRunWithoutNATSPatterns is the lab commlab bench starts to measure an HTTP
// pattern: the feed and the HTTP patterns, none of the lab's own NATS
// subscribers or queue workers, no work.ticks stream.
func TestRunWithoutNATSPatterns(t *testing.T) {
	url, _ := startRun(t, "--rate", "50", "--nats-patterns=false")
	var stats struct {
		Pubsub []json.RawMessage `json:"pubsub"`
		Queue  json.RawMessage   `json:"queue"`
	}
	_, _, body := get(t, url+"/api/stats")
	if err := json.Unmarshal(body, &stats); err != nil {
		t.Fatal(err)
	}
	if len(stats.Pubsub) != 0 || string(stats.Queue) != "null" {
		t.Errorf("stats: pubsub %d subscribers, queue %s; want none and null", len(stats.Pubsub), stats.Queue)
	}
	resp, err := http.Post(url+"/api/queue/kill?worker=core-1", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("queue kill: got %d, want 404: this lab runs no workers", resp.StatusCode)
	}
	code, _, body := get(t, url+"/api/poll?since=0&wait=10s")
	if code != http.StatusOK || !bytes.Contains(body, []byte(`"seq":1`)) {
		t.Errorf("poll: got %d %s, want the feed's first tick", code, body)
	}

	// /api/info names no queue, so bench skips it rather than count every tick
	// as lost; and the broker has no TICKWORK stream.
	var info struct {
		Patterns map[string]struct{ URL string } `json:"patterns"`
	}
	_, _, body = get(t, url+"/api/info")
	if err := json.Unmarshal(body, &info); err != nil {
		t.Fatal(err)
	}
	if _, ok := info.Patterns["queue"]; ok || info.Patterns["pubsub"].URL == "" {
		t.Errorf("/api/info patterns: %s; want pubsub and no queue", body)
	}
	nc, err := nats.Connect(info.Patterns["pubsub"].URL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := js.Stream(ctx, natsqueue.StreamName); !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Errorf("stream %s: got %v, want %v", natsqueue.StreamName, err, jetstream.ErrStreamNotFound)
	}
}

package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	ws "github.com/coder/websocket"
	"go.uber.org/goleak"

	"commlab/shared/labtest"
)

// TestMain doubles as the commlab binary: with COMMLAB_TEST_MAIN=1 the test
// executable runs main, so TestSignalStopsTheLab can signal a real process
// without building one.
func TestMain(m *testing.M) {
	if os.Getenv("COMMLAB_TEST_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

// TestSignalStopsTheLab sends SIGINT, then SIGTERM, to a real commlab process and
// expects a clean exit well within the 5 s the README promises. The embedded NATS
// server must not take the signal for itself (NoSigs).
func TestSignalStopsTheLab(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "--addr", "127.0.0.1:0", "--nats-listen", "127.0.0.1:0", "--rate", "0")
			cmd.Env = append(os.Environ(), "COMMLAB_TEST_MAIN=1")
			stdout, stderr := newOutput(), newOutput()
			cmd.Stdout, cmd.Stderr = stdout, stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			url := stdout.waitFor(t, servingRE, 20*time.Second)
			// An open stream must not hold the shutdown up: it must end with it.
			resp, err := http.Get(url + "/api/sse")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			streamEnded := make(chan error, 1)
			go func() {
				_, err := io.Copy(io.Discard, resp.Body)
				streamEnded <- err
			}()
			// So must a WebSocket, which must hear 1001 going away, and a
			// long poll held by the server.
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			wsConn, _, err := ws.Dial(ctx, "ws"+strings.TrimPrefix(url, "http")+"/api/ws", nil)
			if err != nil {
				t.Fatal(err)
			}
			defer wsConn.CloseNow()
			wsClosed := make(chan ws.StatusCode, 1)
			go func() {
				for {
					if _, _, err := wsConn.Read(ctx); err != nil {
						wsClosed <- ws.CloseStatus(err)
						return
					}
				}
			}()
			pollReturned := make(chan int, 1)
			go func() {
				// The feed is paused (--rate 0): the server holds this poll.
				resp, err := http.Get(url + "/api/poll?since=0&wait=25s")
				if err != nil {
					pollReturned <- -1
					return
				}
				resp.Body.Close()
				pollReturned <- resp.StatusCode
			}()
			labtest.WaitFor(t, "the long poll to be held", func() bool {
				_, _, body := get(t, url+"/api/stats")
				var stats struct {
					Patterns map[string]struct{ Clients int } `json:"patterns"`
				}
				return json.Unmarshal(body, &stats) == nil && stats.Patterns["longpoll"].Clients == 1
			})

			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			start := time.Now()
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-exited:
				if err != nil {
					t.Fatalf("exit: %v\nstderr:\n%s", err, stderr.String())
				}
			case <-time.After(5 * time.Second):
				_ = cmd.Process.Kill()
				<-exited
				t.Fatalf("still running 5s after %v; stderr:\n%s", sig, stderr.String())
			}
			t.Logf("%v: exited cleanly in %v", sig, time.Since(start).Round(time.Millisecond))
			select {
			case <-streamEnded:
			case <-time.After(5 * time.Second):
				t.Fatal("the SSE stream outlived the process")
			}
			if code := <-wsClosed; code != ws.StatusGoingAway {
				t.Errorf("WebSocket closed with %v, want %v", code, ws.StatusGoingAway)
			}
			if code := <-pollReturned; code != http.StatusOK {
				t.Errorf("held long poll: got status %d at shutdown, want 200 (an empty page)", code)
			}
			stderr.waitFor(t, regexp.MustCompile(`lab stopped`), time.Second)
		})
	}
}

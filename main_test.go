package main

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
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
			cmd := exec.Command(os.Args[0], "--addr", "127.0.0.1:0", "--nats-listen", "127.0.0.1:0")
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
			stderr.waitFor(t, regexp.MustCompile(`lab stopped`), time.Second)
		})
	}
}

package websocket

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// countingPipe is one end of a net.Pipe that records each Write it is given.
type countingPipe struct {
	net.Conn
	mu     sync.Mutex
	writes []string
}

func (c *countingPipe) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.writes = append(c.writes, string(p))
	c.mu.Unlock()
	return c.Conn.Write(p)
}

func (c *countingPipe) got() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.writes...)
}

// pipe returns a batchConn over one end of a pipe, and the other end, drained
// into a buffer until the test ends.
func pipe(t *testing.T, timeout time.Duration, drain bool) (*batchConn, *countingPipe, func() string) {
	t.Helper()
	server, client := net.Pipe()
	cp := &countingPipe{Conn: server}
	bc := newBatchConn(cp, timeout)
	var got bytes.Buffer
	var wg sync.WaitGroup
	if drain {
		wg.Go(func() { _, _ = io.Copy(&got, client) })
	}
	t.Cleanup(func() {
		_ = bc.Close()
		_ = client.Close()
		wg.Wait()
	})
	read := func() string {
		_ = bc.Close()
		wg.Wait()
		return got.String()
	}
	return bc, cp, read
}

func TestBatchConnHeldWritesLeaveTogether(t *testing.T) {
	bc, cp, read := pipe(t, 5*time.Second, true)
	if _, err := bc.Write([]byte("a")); err != nil { // not held: at once
		t.Fatal(err)
	}
	bc.hold()
	for _, s := range []string{"b", "c", "d"} {
		if _, err := bc.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	// Another goroutine (the library answering a ping) writes while held: its
	// bytes join the batch, in order.
	var wg sync.WaitGroup
	wg.Go(func() { _, _ = bc.Write([]byte("P")) })
	wg.Wait()
	if got := cp.got(); len(got) != 1 {
		t.Fatalf("writes before release: got %q, want only the unheld one", got)
	}
	if err := bc.release(); err != nil {
		t.Fatal(err)
	}
	if got, want := cp.got(), []string{"a", "bcdP"}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("writes: got %q, want %q", got, want)
	}
	if got := read(); got != "abcdP" {
		t.Errorf("bytes: got %q, want %q", got, "abcdP")
	}
}

func TestBatchConnCapsTheBatch(t *testing.T) {
	bc, cp, read := pipe(t, 5*time.Second, true)
	bc.hold()
	want := ""
	for i := range maxHeldWrites + 2 {
		s := string(rune('a' + i))
		want += s
		if _, err := bc.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	if err := bc.release(); err != nil {
		t.Fatal(err)
	}
	got := cp.got()
	if len(got) != 2 || len(got[0]) != maxHeldWrites {
		t.Errorf("writes: got %q, want one of %d frames, then the rest", got, maxHeldWrites)
	}
	if b := read(); b != want {
		t.Errorf("bytes: got %q, want %q", b, want)
	}
}

func TestBatchConnWriteHasADeadline(t *testing.T) {
	bc, _, _ := pipe(t, 50*time.Millisecond, false) // nobody reads
	start := time.Now()
	bc.hold()
	_, _ = bc.Write([]byte("held"))
	err := bc.release()
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("release to a peer that does not read: got %v, want a deadline error", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the write took %v, want about 50ms", d)
	}
}

func TestBatchConnCloseSendsWhatIsHeld(t *testing.T) {
	bc, _, read := pipe(t, 5*time.Second, true)
	bc.hold()
	if _, err := bc.Write([]byte("close frame")); err != nil {
		t.Fatal(err)
	}
	if got := read(); got != "close frame" { // read closes bc
		t.Errorf("bytes: got %q, want the held close frame", got)
	}
}

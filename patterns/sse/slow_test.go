//go:build unix

package sse

import (
	"fmt"
	"net"
	"net/http/httptest"
	"syscall"
	"testing"

	"commlab/shared"
	"commlab/shared/labtest"
)

// A client that stops reading fills its socket, then its queue; it alone is cut
// off, while 50 clients reading at full speed get every tick.
func TestSlowClientIsCutOff(t *testing.T) {
	// Ticks are published in batches well under QueueLen, each one only once all
	// the readers have the previous one: a burst longer than the queue would
	// cut off readers too, before their goroutines get a turn on the CPU.
	const queueLen, batch = 64, 16
	lab, stats, srv, _ := start(t, nil, &Options{QueueLen: queueLen})
	shrinkSendBuffers(t, srv)
	since := lab.Publish(t, 1)[0].Seq

	wake := make(chan struct{}, 1)
	good := make([]*collector, 50)
	for i := range good {
		good[i] = subscribe(t, srv.URL, &ClientOptions{Since: since}, wake)
	}
	dialNonReader(t, srv) // sends its request, then never reads
	labtest.WaitFor(t, "51 open streams", func() bool { return stats.Clients.Load() == 51 })

	var published []shared.Tick
	for stats.SlowDisconnects.Load() == 0 {
		if len(published) > 20_000 {
			t.Fatalf("no slow disconnect after %d ticks", len(published))
		}
		published = append(published, lab.Publish(t, batch)...)
		waitSeq(t, published[len(published)-1].Seq, good...)
	}
	t.Logf("slow client cut off after %d ticks", len(published))
	for range 6 { // the others go on
		published = append(published, lab.Publish(t, batch)...)
		waitSeq(t, published[len(published)-1].Seq, good...)
	}

	if got := stats.SlowDisconnects.Load(); got != 1 {
		t.Errorf("got %d slow disconnects, want 1", got)
	}
	if got := stats.Drops.Load(); got == 0 {
		t.Error("got 0 drops, want at least the tick that did not fit")
	}
	for i, c := range good {
		checkTicks(t, c.received(), published)
		checkClean(t, c.stats)
		if got := c.stats.Reconnects.Load(); got != 0 {
			t.Errorf("client %d: got %d reconnects, want 0", i, got)
		}
	}

	// The server is done with the slow client: its stream's handler has
	// returned. (Reading the slow socket to its end is no test of that: a
	// stream cut because its queue was full ends cleanly, and net/http keeps
	// the connection for a next request, until the server's IdleTimeout;
	// what the server had sent trickles through the 1 KiB window meanwhile.)
	labtest.WaitFor(t, "the slow client's stream to end", func() bool { return stats.Clients.Load() == 50 })
}

// dialNonReader opens a stream over raw TCP with a tiny receive buffer, sends
// the request and never reads: a client on a stalled network, or a frozen tab.
func dialNonReader(t *testing.T, srv *httptest.Server) net.Conn {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		return setSocketBuffer(c, syscall.SO_RCVBUF, 1024) // before connect, so the window starts small
	}}
	conn, err := d.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := fmt.Fprintf(conn, "GET /api/sse HTTP/1.1\r\nHost: %s\r\n\r\n", srv.Listener.Addr()); err != nil {
		t.Fatal(err)
	}
	return conn
}

// shrinkSendBuffers gives the sockets the server accepts from now on a small
// send buffer: accepted sockets inherit it from the listening one. Otherwise
// Linux grows a loopback send buffer to megabytes, and filling it would take
// tens of thousands of ticks.
func shrinkSendBuffers(t *testing.T, srv *httptest.Server) {
	t.Helper()
	cl, ok := srv.Listener.(shared.CountingListener)
	if !ok {
		t.Fatalf("got listener %T, want shared.CountingListener", srv.Listener)
	}
	tl, ok := cl.Listener.(*net.TCPListener)
	if !ok {
		t.Fatalf("got listener %T, want *net.TCPListener", cl.Listener)
	}
	raw, err := tl.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	if err := setSocketBuffer(raw, syscall.SO_SNDBUF, 4096); err != nil {
		t.Fatal(err)
	}
}

func setSocketBuffer(c syscall.RawConn, opt, size int) error {
	var err error
	if cerr := c.Control(func(fd uintptr) {
		err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, opt, size)
	}); cerr != nil {
		return cerr
	}
	return err
}

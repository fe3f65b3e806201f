package shared

import (
	"context"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Bytes on the wire are counted at the connection, below HTTP, so that headers,
// chunked encoding and WebSocket framing are all included: what a learner would see
// in a packet capture, not just the payload.

// CountingListener wraps every accepted connection so its writes can be counted
// (and, on the dashboard's request, slowed: see Throttle). Serve it with
// ConnContext so handlers can say which pattern a connection serves.
type CountingListener struct{ net.Listener }

// Accept wraps the next connection.
func (l CountingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, closed: make(chan struct{})}, nil
}

type countingConn struct {
	net.Conn
	written atomic.Pointer[atomic.Uint64] // the counter of the pattern this conn serves now
	linkBps atomic.Int64                  // > 0: writes take as long as on a link of this many bytes/s (see Throttle)

	closeOnce sync.Once
	closed    chan struct{} // closed by Close (see ConnClosed)
}

func (c *countingConn) Close() error {
	c.closeOnce.Do(func() { close(c.closed) })
	return c.Conn.Close()
}

func (c *countingConn) Write(p []byte) (int, error) {
	if bps := c.linkBps.Load(); bps > 0 {
		// The write blocks as one to a congested link does: for as long as
		// its bytes take at the link's rate, however they are batched. Close
		// ends the wait, as it would end a write stuck in the kernel.
		wait := time.NewTimer(time.Duration(len(p)) * time.Second / time.Duration(bps))
		select {
		case <-wait.C:
		case <-c.closed:
			wait.Stop()
			return 0, net.ErrClosed
		}
	}
	n, err := c.Conn.Write(p)
	if ctr := c.written.Load(); ctr != nil {
		ctr.Add(uint64(n))
	}
	return n, err
}

type connKey struct{}

// ConnContext is the http.Server hook that makes the connection known to handlers.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}

// CountWritesAs makes every byte written on the request's connection from now on
// count toward ctr. A kept-alive connection can serve several patterns in turn;
// each request re-points it. Without a CountingListener it does nothing.
func CountWritesAs(r *http.Request, ctr *atomic.Uint64) {
	if c, ok := r.Context().Value(connKey{}).(*countingConn); ok {
		c.written.Store(ctr)
	}
}

// Throttle returns a function that makes every later write on the request's
// connection as slow as on a link of bytesPerSecond (0: full speed again), as
// if the link to the client were congested or the client read slowly: the
// server's own writes block, its queues fill, and its defences against slow
// clients must act. The dashboard uses it to slow a learner's own connection.
// ok is false without a CountingListener.
func Throttle(r *http.Request) (slow func(bytesPerSecond int), ok bool) {
	c, ok := r.Context().Value(connKey{}).(*countingConn)
	if !ok {
		return nil, false
	}
	return func(bps int) { c.linkBps.Store(int64(bps)) }, true
}

// ConnClosed returns a channel closed when the request's connection is: for a
// hijacked connection (a WebSocket), which outlives its request. ok is false
// without a CountingListener.
func ConnClosed(r *http.Request) (closed <-chan struct{}, ok bool) {
	c, ok := r.Context().Value(connKey{}).(*countingConn)
	if !ok {
		return nil, false
	}
	return c.closed, true
}

type shutdownKey struct{}

// WithShutdown marks ctx, a server's BaseContext, as the context that ends
// when the server shuts down, for handlers to find with ShutdownOf. A
// request's own context ends when its handler returns, so a connection that
// outlives its handler (a hijacked WebSocket) needs the server's.
func WithShutdown(ctx context.Context) context.Context {
	return context.WithValue(ctx, shutdownKey{}, ctx)
}

// ShutdownOf returns the context that ends when the server that received r
// shuts down; ok is false if the server did not say (WithShutdown).
func ShutdownOf(r *http.Request) (shutdown context.Context, ok bool) {
	shutdown, ok = r.Context().Value(shutdownKey{}).(context.Context)
	return shutdown, ok
}

// ClientStats counts what a pattern client sees, for demos, tests and the bench.
type ClientStats struct {
	Messages   atomic.Uint64 // ticks handed to the caller
	Bytes      atomic.Uint64 // bytes read from the network, headers and framing included
	Requests   atomic.Uint64 // HTTP requests made (a stream's connect counts as one)
	Reconnects atomic.Uint64 // connections re-established after a failure
	Gaps       atomic.Uint64 // ticks missed: seqs skipped over
	Dups       atomic.Uint64 // ticks received again and dropped
	Resets     atomic.Uint64 // times the server said the sequence could not continue
}

// NewHTTPClient returns a client whose connections count the bytes they read into
// stats.Bytes. The clients of every HTTP pattern use it, so their byte figures are
// comparable.
func NewHTTPClient(stats *ClientStats) *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dialer.DialContext(ctx, network, addr)
			if err != nil || stats == nil {
				return c, err
			}
			return &readCountingConn{Conn: c, read: &stats.Bytes}, nil
		},
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true, // compressed bodies would hide the real payload size
	}
	return &http.Client{Transport: tr}
}

// CountReads wraps c so that every byte read from it is added to n: what a
// client received, headers and framing included.
func CountReads(c net.Conn, n *atomic.Uint64) net.Conn { return &readCountingConn{Conn: c, read: n} }

type readCountingConn struct {
	net.Conn
	read *atomic.Uint64
}

func (c *readCountingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.read.Add(uint64(n))
	return n, err
}

package websocket

import (
	"net"
	"sync"
	"time"

	"commlab/shared"
)

// This file holds the connection under the library: every write gets its
// deadline here, and a batch of frames can leave in one write.
//
// coder/websocket flushes its buffer after every message, so one tick is one
// write system call per client, and the system call is most of what a tick
// costs the server. When the writer finds several ticks queued, it holds the
// connection: the frames the library writes meanwhile pile up in memory, and
// release sends them in one system call.

// maxHeldWrites caps the frames one write carries. A batch longer than that
// goes out in several writes, so the memory held stays small.
const maxHeldWrites = 8

// heldBufs lends the bytes of a held batch; a connection keeps none between
// batches, so an idle connection costs nothing here.
var heldBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// batchConn wraps the hijacked connection. Write sends at once, under a
// deadline of timeout, unless the connection is held; then it appends. Any
// goroutine may write (the library answers pings and closes from the reader),
// and a frame written while the connection is held goes out with the batch,
// in the order written.
type batchConn struct {
	net.Conn

	mu     sync.Mutex
	held   bool
	writes int     // frames in buf
	buf    *[]byte // the batch, from heldBufs; nil when empty

	deadline shared.WriteDeadline
}

func newBatchConn(c net.Conn, timeout time.Duration) *batchConn {
	return &batchConn{Conn: c, deadline: shared.WriteDeadline{Timeout: timeout}}
}

// hold makes writes pile up until release.
func (c *batchConn) hold() {
	c.mu.Lock()
	c.held = true
	c.mu.Unlock()
}

// release sends what piled up, in one write.
func (c *batchConn) release() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.held = false
	return c.flushLocked()
}

func (c *batchConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.held {
		return c.writeLocked(p)
	}
	if c.buf == nil {
		c.buf = heldBufs.Get().(*[]byte)
	}
	*c.buf = append(*c.buf, p...)
	c.writes++
	if c.writes < maxHeldWrites {
		return len(p), nil
	}
	if err := c.flushLocked(); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Close sends what is held first, unless a write is in progress: the library
// may have written a close frame into the batch just before closing, and a
// write that is stuck must be cut, not waited for.
func (c *batchConn) Close() error {
	if c.mu.TryLock() {
		_ = c.flushLocked()
		c.mu.Unlock()
	}
	return c.Conn.Close()
}

func (c *batchConn) flushLocked() error {
	if c.buf == nil {
		return nil
	}
	b := c.buf
	c.buf, c.writes = nil, 0
	var err error
	if len(*b) > 0 {
		_, err = c.writeLocked(*b)
	}
	*b = (*b)[:0]
	heldBufs.Put(b)
	return err
}

// writeLocked is the one place that writes to the network: every write has a
// deadline (at least nine tenths of timeout, see shared.WriteDeadline), so a
// peer that stopped reading is cut off.
func (c *batchConn) writeLocked(p []byte) (int, error) {
	if err := c.deadline.Arm(c.Conn); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

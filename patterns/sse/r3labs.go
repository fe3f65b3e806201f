package sse

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	r3sse "github.com/r3labs/sse/v2"

	"commlab/shared"
)

// This file is everything r3labs/sse needs so that it can be used safely. The
// story of a stream (stream.go) sees only a conn and its four methods: send,
// sendPaced, sendLast and end. The numbers in brackets are the pitfalls of
// r3labs/sse v2.10.0 that the code beside them avoids:
//
//	[1] AutoReplay, on by default, keeps every event ever published in an
//	    unbounded log (about 288 B an event: a gigabyte an hour at 1,000
//	    ticks/s), replays all of it to each new client, and replaces the
//	    event ids with its log index.
//	[2] EventTTL with AutoReplay off drops every event: never set it.
//	[3] One stream's fan-out is a blocking send into each subscriber's
//	    channel: one client that stops reading stalls Publish, every other
//	    client of the stream, and new ones. And it ignores write errors.
//	[4] Removing a stream while a client is still subscribed leaks that
//	    subscriber's goroutine: end the client first.
//	[5] No heartbeats, and an event with empty data and an empty comment ends
//	    the handler's loop; behind nginx, responses are buffered unless
//	    X-Accel-Buffering says no.

// errSlowClient is the cause of a stream cut off because the client fell behind.
var errSlowClient = errors.New("slow client")

var (
	errQueueFull = fmt.Errorf("%w: stream queue full", errSlowClient)
	errEnded     = errors.New("sse: stream ended") // what writes return after end
)

// endGrace is how long an ended stream has to finish its response (net/http's
// last chunk), so a client that reads sees a clean end, and how long sendLast
// waits. A client that accepts nothing in that time holds up no one for longer.
const endGrace = time.Second

// newR3labs returns the r3labs server that writes the events, set up for the lab.
func newR3labs(queueLen int) *r3sse.Server {
	srv := r3sse.New()
	// [1] AutoReplay, on by default, keeps every event in an unbounded log,
	// replays all of it to each new client and overwrites our ids. The
	// gateway's history is our bounded replay log; r3labs only writes.
	srv.AutoReplay = false
	srv.BufferSize = queueLen // the queue of each stream: one stream per client [3]
	// [5] nginx buffers responses unless told not to, which would hold events back.
	srv.Headers["X-Accel-Buffering"] = "no"
	// EncodeBase64 stays off: with it (and AutoReplay off) r3labs never changes
	// an Event it is given, which is what lets clients share one (events.go).
	return srv
}

// serve runs one client's stream on an r3labs stream of its own. r3labs writes
// the events to w on this goroutine while story, on another, sends them; serve
// returns once both are done, with how many events were written and why the
// stream ended.
func (s *server) serve(w http.ResponseWriter, r *http.Request, story func(ctx context.Context, out *conn) error) (written int64, cause error) {
	ctx, cancel := context.WithCancelCause(r.Context())
	defer cancel(nil)
	c := &conn{
		r3:           s.r3,
		id:           "c" + strconv.FormatUint(s.lastID.Add(1), 10),
		rc:           http.NewResponseController(w),
		writeTimeout: s.opts.WriteTimeout,
		deadline:     shared.WriteDeadline{Timeout: s.opts.WriteTimeout},
		window:       int64(max(s.opts.QueueLen/2, 1)),
		cancel:       cancel,
		ready:        make(chan struct{}),
		flushed:      make(chan struct{}, 1),
		log:          s.log.With("pattern", "sse", "remote", r.RemoteAddr),
	}
	// [3] One r3labs stream per client: r3labs' fan-out waits for the slowest
	// subscriber, so a stream shared by all lets one stuck client freeze all.
	s.r3.CreateStream(c.id)

	var storyDone sync.WaitGroup
	storyDone.Go(func() {
		select {
		case <-c.ready:
			c.end(story(ctx, c))
		case <-ctx.Done():
		}
	})

	// r3labs finds the stream by ?stream=. The clone carries ctx, which is how
	// end gets the client out of ServeHTTP. It carries no Last-Event-ID:
	// resuming is the story's job [1], and r3labs would answer an id it cannot
	// parse with a text/plain 400, not the contract's JSON.
	r2 := r.Clone(ctx)
	r2.Header.Del("Last-Event-ID")
	r2.URL.RawQuery = "stream=" + c.id
	s.r3.ServeHTTP(&writer{ResponseWriter: w, c: c}, r2)

	// With a subscriber, ServeHTTP returns only once ctx has ended and r3labs
	// has let go of the subscriber; only then may the stream be removed [4].
	cause = context.Cause(ctx)
	if cause == nil {
		cause = errors.New("sse: r3labs ended the response")
	}
	c.end(cause)
	storyDone.Wait()
	s.r3.RemoveStream(c.id)

	c.mu.Lock()
	defer c.mu.Unlock()
	return c.written.Load(), c.cause
}

// conn is one client's r3labs stream, as the story sees it.
type conn struct {
	r3           *r3sse.Server
	id           string // the r3labs stream's id
	rc           *http.ResponseController
	writeTimeout time.Duration
	window       int64 // sendPaced leaves at most this many events queued
	cancel       context.CancelCauseFunc
	ready        chan struct{} // closed once r3labs registered its subscriber
	log          *slog.Logger

	// [3] r3labs does not tell how many events wait in its queue. published
	// counts those the story handed over, written those the writer flushed
	// to the network; flushed is signalled after each flush. The writer
	// reads published too: it tells whether more events are on their way.
	published atomic.Int64 // added to by the story's goroutine only
	written   atomic.Int64
	flushed   chan struct{}

	mu       sync.Mutex
	ended    bool
	cause    error
	deadline shared.WriteDeadline // the writes' deadline, under mu
}

// send hands ev to r3labs without waiting. It reports false when the client's
// queue is full: the client is too slow and the stream must end. [3] TryPublish
// instead of Publish: Publish would wait for the slow client.
func (c *conn) send(ev *r3sse.Event) bool {
	if !c.r3.TryPublish(c.id, ev) {
		return false
	}
	c.published.Add(1)
	return true
}

// sendPaced waits until fewer than a window of events (half the queue) wait to
// be written, then sends ev. A replay of thousands of held ticks then goes at
// the client's pace instead of overflowing its queue, and leaves room for the
// live ticks that follow. It reports false only when ctx ended: a client that
// reads nothing at all is cut off by the write deadline, which ends ctx.
func (c *conn) sendPaced(ctx context.Context, ev *r3sse.Event) bool {
	for c.published.Load()-c.written.Load() >= c.window || !c.send(ev) {
		select {
		case <-c.flushed:
		case <-ctx.Done():
			return false
		}
	}
	return true
}

// sendLast sends ev and waits, for at most endGrace, until it has been written:
// ending a stream drops whatever r3labs still holds for it.
func (c *conn) sendLast(ctx context.Context, ev *r3sse.Event) bool {
	if !c.send(ev) {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, endGrace)
	defer cancel()
	for c.published.Load() > c.written.Load() {
		select {
		case <-c.flushed:
		case <-ctx.Done():
			return false
		}
	}
	return true
}

// end ends the stream; the first cause is the one kept. It cancels the
// request's context, which is how r3labs learns that a client is gone [3]. A
// write blocked on a full socket does not watch that context: the deadline
// makes it fail. From now on the writer writes nothing, and only net/http's end
// of the response is still written, within endGrace.
func (c *conn) end(cause error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ended {
		return
	}
	c.ended, c.cause = true, cause
	if err := c.rc.SetWriteDeadline(time.Now().Add(endGrace)); err != nil {
		// The connection is closed already, or cannot take deadlines: the
		// last per-write deadline still bounds the end.
		c.log.Debug("final write deadline", "err", err)
	}
	c.cancel(cause)
}

// writer is the ResponseWriter r3labs writes to. r3labs sets no deadline and
// ignores write errors [3]: writer gives every write WriteTimeout, ends the
// stream at the first failure, and counts the events that reached the network
// for sendPaced and sendLast.
type writer struct {
	http.ResponseWriter
	c             *conn
	headerFlushed bool
	held          int64 // events written to the response's buffer, not flushed yet
}

// maxHeldEvents caps the events one flush carries, as the WebSocket's
// batches are capped, so the memory held stays small.
const maxHeldEvents = 8

// WriteHeader tells the story it may send. r3labs writes the 200 right after it
// registered the subscriber (http.go), and an event published to a stream
// without a subscriber is silently dropped.
func (w *writer) WriteHeader(status int) {
	w.ResponseWriter.WriteHeader(status)
	if status == http.StatusOK {
		close(w.c.ready) // r3labs writes the header once
	}
}

func (w *writer) Write(p []byte) (n int, err error) {
	if err = w.c.armDeadline(); err == nil {
		n, err = w.ResponseWriter.Write(p)
	}
	if err != nil {
		w.c.end(w.c.writeCause(err))
	}
	return n, err
}

// Flush sends what r3labs wrote: the header once, then the events. r3labs
// flushes after every event, and a flush is a write system call, most of what
// an event costs the server. So when the story has published more events than
// this one, which r3labs will write and flush right after it, Flush skips the
// system call and leaves the event in net/http's buffer for the next flush
// (at most maxHeldEvents in all): a client that fell behind gets its queued
// events in one write, and a client that keeps up gets each at once. (If the
// stream ends meanwhile, net/http's end of the response still sends the held
// events, within endGrace; written does not count them.)
func (w *writer) Flush() {
	if w.headerFlushed {
		w.held++
		queuedBehind := w.c.published.Load() - w.c.written.Load() - w.held
		if queuedBehind > 0 && w.held < maxHeldEvents {
			return
		}
	}
	err := w.c.armDeadline()
	if err == nil {
		err = w.c.rc.Flush()
	}
	if err != nil {
		w.c.end(w.c.writeCause(err))
		return
	}
	if !w.headerFlushed {
		w.headerFlushed = true
		return
	}
	w.c.written.Add(w.held) // before the signal, so the story sees it when it wakes
	w.held = 0
	select {
	case w.c.flushed <- struct{}{}:
	default: // a signal is already pending
	}
}

// Unwrap lets http.ResponseController reach the server's writer.
func (w *writer) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// armDeadline gives the next write at least nine tenths of WriteTimeout to
// complete (shared.WriteDeadline). Under c.mu, so a write cannot push back the
// final deadline that end sets.
func (c *conn) armDeadline() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ended {
		return errEnded
	}
	return c.deadline.Arm(c.rc)
}

// writeCause says why a write failed: a client that accepted no bytes for
// WriteTimeout is too slow; anything else means the connection is gone.
func (c *conn) writeCause(err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("%w: no write progress for about %v", errSlowClient, c.writeTimeout)
	}
	return fmt.Errorf("sse: write: %w", err)
}

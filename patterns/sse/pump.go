package sse

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	r3sse "github.com/r3labs/sse/v2"

	"commlab/shared"
)

// This file is one client's stream: the pump that feeds r3labs, and the writer
// that r3labs writes through.

// replayBatch is how many held ticks the pump reads from the history at a time.
const replayBatch = 256

var (
	// errSlowClient is the cause of a stream cut off because the client fell behind.
	errSlowClient = errors.New("slow client")
	// errEnded is what writes return once the stream has been ended.
	errEnded = errors.New("sse: stream ended")

	tickType         = []byte("tick")
	resetType        = []byte(shared.OpReset)
	heartbeatComment = []byte("heartbeat")
)

// conn is one client's stream.
type conn struct {
	*server
	id     string
	remote string
	rc     *http.ResponseController
	cancel context.CancelCauseFunc
	sent   uint64 // ticks handed to r3labs; read after the pump has returned

	// published counts the events the pump handed to r3labs, written those the
	// writer flushed to the network; flushed is signalled after each flush. The
	// difference is how many are still queued, which r3labs does not tell.
	published int64
	written   atomic.Int64
	flushed   chan struct{}

	mu    sync.Mutex
	ended bool
}

// endGrace is how long an ended stream may take to finish its response cleanly
// (the last chunk of a chunked body), so clients see an orderly end; a client
// that accepts nothing in that time holds up nobody's shutdown for longer.
const endGrace = time.Second

// end ends the stream with cause, letting the response finish cleanly. It
// reports whether this call ended it: the first cause recorded wins.
func (c *conn) end(cause error) bool { return c.finish(cause, time.Now().Add(endGrace)) }

// cut ends the stream at once: the client is too slow, or its connection broke.
func (c *conn) cut(cause error) bool { return c.finish(cause, time.Now()) }

func (c *conn) finish(cause error, writeDeadline time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ended {
		return false
	}
	c.ended = true
	// A write blocked on a full socket does not watch ctx; the deadline makes it
	// fail, so r3labs' handler loop can unwind. From now on writes fail at once
	// (armDeadline), and only net/http's end of the response is still written.
	if err := c.rc.SetWriteDeadline(writeDeadline); err != nil {
		c.log.Debug("sse: set final write deadline", "pattern", "sse", "remote", c.remote, "err", err)
	}
	c.cancel(cause)
	return true
}

// cutSlow cuts off a client that fell behind.
func (c *conn) cutSlow(reason string) {
	if c.cut(fmt.Errorf("%w: %s", errSlowClient, reason)) {
		c.stats.SlowDisconnects.Add(1)
		c.log.Info("sse: slow client cut off", "pattern", "sse", "remote", c.remote, "reason", reason)
	}
}

// pump feeds the connection's r3labs stream: the held ticks after since (when
// resuming), then live ticks from the hub, until ctx ends or the client falls
// behind.
func (c *conn) pump(ctx context.Context, subscribed <-chan struct{}, since uint64, resume bool) {
	// Whatever ends the pump ends the stream; the first cause recorded wins.
	defer func() { c.end(context.Cause(ctx)) }()

	// Subscribe before reading the history: a tick that arrives in between is
	// then in the subscription, the history, or both, never in neither.
	sub := c.gw.Hub.Subscribe(c.opts.QueueLen)
	defer func() { sub.Close() }() // sub may be replaced below

	select {
	case <-subscribed:
	case <-ctx.Done():
		return
	}

	last := since
	if resume {
		var ok bool
		if sub, last, ok = c.catchUp(ctx, sub, since); !ok {
			return
		}
	}
	c.live(ctx, sub, last)
}

// catchUp sends the held ticks after since, a batch at a time, at the pace the
// client reads them. It returns a hub subscription that holds every tick after
// the last one sent, and that seq.
func (c *conn) catchUp(ctx context.Context, sub *shared.Subscription, since uint64) (_ *shared.Subscription, last uint64, ok bool) {
	last = since
	buf := make([]*shared.Tick, 0, replayBatch)
	for {
		ticks, after, reset := c.gw.History.Since(last, replayBatch, buf[:0])
		if reset {
			if !c.sendPaced(ctx, c.resetEvent(after)) {
				return sub, last, false
			}
			last = after
		}
		for _, t := range ticks {
			if !c.sendPaced(ctx, tickEvent(t)) {
				return sub, last, false
			}
			c.count(t)
			last = t.Seq
		}
		if len(ticks) == replayBatch {
			continue // more held ticks may follow
		}
		select {
		case <-sub.Done():
			if errors.Is(sub.Err(), shared.ErrFeedRestarted) {
				c.end(sub.Err())
				return sub, last, false
			}
			// The hub cut us off while a long replay was paced by the client.
			// The ticks we missed are in the history: subscribe again, then
			// read on from the history.
			sub.Close()
			sub = c.gw.Hub.Subscribe(c.opts.QueueLen)
		default:
			return sub, last, true
		}
	}
}

// sendPaced publishes ev once fewer than half a queue of events wait to be
// written. The replay goes at the client's pace instead of overflowing the
// queue at once, and it ends with room left for the live ticks that follow.
// A client that reads nothing at all is cut off by the write deadline, which
// cancels ctx.
func (c *conn) sendPaced(ctx context.Context, ev *r3sse.Event) bool {
	window := int64(max(c.opts.QueueLen/2, 1))
	for c.published-c.written.Load() >= window {
		select {
		case <-c.flushed:
		case <-ctx.Done():
			return false
		}
	}
	return c.publish(ev)
}

// publish hands ev to r3labs without waiting; false means the client's queue is
// full: it is too slow and has been cut off.
func (c *conn) publish(ev *r3sse.Event) bool {
	if !c.sse.TryPublish(c.id, ev) {
		c.cutSlow("stream queue full")
		return false
	}
	c.published++
	return true
}

// live forwards the hub's ticks after last, and a heartbeat now and then. It
// never waits for the client: a full queue means the client is too slow.
func (c *conn) live(ctx context.Context, sub *shared.Subscription, last uint64) {
	heartbeats := time.NewTicker(c.opts.Heartbeat)
	defer heartbeats.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-sub.Done():
			if err := sub.Err(); errors.Is(err, shared.ErrSlowConsumer) {
				c.cutSlow("hub queue full")
			} else {
				c.end(err) // e.g. the feed restarted: the client reconnects and gets a reset
			}
			return
		case t := <-sub.C:
			if t.Seq <= last {
				continue // already sent from the history
			}
			if !c.publish(tickEvent(t)) {
				return
			}
			c.count(t)
			last = t.Seq
		case <-heartbeats.C:
			// A comment, never an event with empty data and comment: r3labs
			// takes that as the end of the stream.
			if !c.publish(&r3sse.Event{Comment: heartbeatComment}) {
				return
			}
		}
	}
}

// count accounts for a tick handed to r3labs. r3labs has no hook for the moment
// the tick is written; the queue between the two is short.
func (c *conn) count(t *shared.Tick) {
	c.sent++
	c.stats.Messages.Add(1)
	c.stats.ObserveLatency(t, time.Now())
}

func tickEvent(t *shared.Tick) *r3sse.Event {
	// Data is the feed's bytes as they are: every pattern sends the same ones.
	return &r3sse.Event{ID: strconv.AppendUint(nil, t.Seq, 10), Event: tickType, Data: t.Raw}
}

// resetEvent says the ticks up to next are gone. It carries id next: an event
// with an empty id would clear the browser's Last-Event-ID.
func (c *conn) resetEvent(next uint64) *r3sse.Event {
	data, err := json.Marshal(shared.Control{Op: shared.OpReset, Epoch: c.gw.Epoch(), Next: next})
	if err != nil {
		panic(err) // a struct of a string and numbers always marshals
	}
	return &r3sse.Event{ID: strconv.AppendUint(nil, next, 10), Event: resetType, Data: data}
}

// writer is the ResponseWriter r3labs writes to. r3labs sets no deadlines and
// ignores write errors; writer gives every write a deadline, ends the stream at
// the first failed write, and signals each event that reached the network.
type writer struct {
	http.ResponseWriter
	c *conn
}

func (w writer) Write(p []byte) (int, error) {
	if err := w.c.armDeadline(); err != nil {
		return 0, err
	}
	n, err := w.ResponseWriter.Write(p)
	if err != nil {
		w.c.writeFailed(err)
	}
	return n, err
}

// Flush sends what r3labs wrote; it does so once per event.
func (w writer) Flush() {
	if err := w.c.armDeadline(); err != nil {
		return
	}
	if err := w.c.rc.Flush(); err != nil {
		w.c.writeFailed(err)
		return
	}
	w.c.written.Add(1) // before the signal, so the pump sees it when it wakes
	select {
	case w.c.flushed <- struct{}{}:
	default: // a signal is already pending
	}
}

// Unwrap lets http.ResponseController reach the server's writer.
func (w writer) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// armDeadline gives the next write WriteTimeout to complete. Under c.mu, so that
// the final deadline set by finish cannot be pushed back by a later write.
func (c *conn) armDeadline() error {
	c.mu.Lock()
	ended := c.ended
	var err error
	if !ended {
		err = c.rc.SetWriteDeadline(time.Now().Add(c.opts.WriteTimeout))
	}
	c.mu.Unlock()
	switch {
	case ended:
		return errEnded
	case err != nil:
		c.writeFailed(err)
		return err
	}
	return nil
}

func (c *conn) writeFailed(err error) {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		c.cutSlow(fmt.Sprintf("no write progress for %v", c.opts.WriteTimeout))
		return
	}
	c.cut(fmt.Errorf("sse: write: %w", err))
}

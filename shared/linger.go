package shared

import (
	"sync"
	"time"
)

// lingerHub holds live ticks for a moment before the hub fans them out, so
// that the streams' writers find several queued and send them in one write,
// as Kafka's linger.ms (or TCP_CORK) does for its batches. Each tick
// waits at most delay, and the whole gateway uses one timer, not one per
// client. What it buys is CPU, because one write system call per client and
// tick is most of what a stream costs the server; what it costs is latency.
// It pays off only when ticks come faster than delay: at 100 ticks/s and a
// 2 ms delay, almost every batch holds a single tick.
type lingerHub struct {
	hub   *Hub
	delay time.Duration

	mu      sync.Mutex
	pending []*Tick     // ticks received, not yet fanned out; the timer is set while not empty
	spare   []*Tick     // the previous batch's slice, reused
	timer   *time.Timer // calls flush; one for the gateway, set again for each batch
	stopped bool        // set by stop: add drops ticks from then on

	flushing sync.Mutex // one flush at a time, so batches go out in order
}

func newLingerHub(hub *Hub, delay time.Duration) *lingerHub {
	return &lingerHub{hub: hub, delay: delay}
}

// add holds t; the first tick of a batch sets the timer that flushes it.
func (l *lingerHub) add(t *Tick) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped {
		return // the gateway is closed and has cut every subscriber
	}
	l.pending = append(l.pending, t)
	switch {
	case len(l.pending) > 1: // the batch's timer is set already
	case l.timer == nil:
		l.timer = time.AfterFunc(l.delay, l.flush)
	default:
		l.timer.Reset(l.delay)
	}
}

// stop fans out what is held; ticks added later are dropped.
func (l *lingerHub) stop() {
	l.mu.Lock()
	l.stopped = true
	if l.timer != nil {
		l.timer.Stop()
	}
	l.mu.Unlock()
	l.flush()
}

// flush fans out what is held. The gateway also calls it before it cuts its
// subscribers off, so they get every tick published before the cut.
func (l *lingerHub) flush() {
	l.flushing.Lock()
	defer l.flushing.Unlock()
	l.mu.Lock()
	batch := l.pending
	if len(batch) == 0 {
		l.mu.Unlock()
		return // flushed early; the timer found nothing left
	}
	// The two slices take turns: add appends to one while the other is sent.
	l.pending, l.spare = l.spare[:0], nil
	l.mu.Unlock()

	l.hub.PublishBatch(batch)
	clear(batch) // let the ticks go: the history decides how long they live
	l.mu.Lock()
	l.spare = batch[:0]
	l.mu.Unlock()
}

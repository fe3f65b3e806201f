package shared

import (
	"errors"
	"sync"
)

// ErrSlowConsumer ends a subscription whose queue was full when a tick arrived.
var ErrSlowConsumer = errors.New("slow consumer: queue full")

// Hub fans every tick out to its subscribers. Each subscriber has its own bounded
// queue; Publish never waits for anyone: a subscriber whose queue is full is cut
// off and must reconnect and resume. One stuck client can therefore never delay
// the feed or any other client.
type Hub struct {
	mu   sync.Mutex
	subs map[*Subscription]struct{}
}

// NewHub returns a hub with no subscribers.
func NewHub() *Hub { return &Hub{subs: make(map[*Subscription]struct{})} }

// Subscription is one subscriber's queue. Ticks arrive on C in seq order; Done is
// closed when the hub cuts the subscriber off, after which Err says why.
type Subscription struct {
	C <-chan *Tick

	hub     *Hub
	queue   chan *Tick
	done    chan struct{}
	err     error
	dropped int
}

// Subscribe registers a subscriber with a queue of the given length.
func (h *Hub) Subscribe(queueLen int) *Subscription {
	q := make(chan *Tick, max(queueLen, 1))
	s := &Subscription{C: q, hub: h, queue: q, done: make(chan struct{})}
	h.mu.Lock()
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	return s
}

// Publish offers t to every subscriber. It does no other work per subscriber and
// allocates nothing: the same *Tick, with the same encoded bytes, goes to all.
func (h *Hub) Publish(t *Tick) {
	h.PublishBatch([]*Tick{t})
}

// PublishBatch offers ticks, in order, to every subscriber. Each subscriber
// gets the whole batch before the next one gets any, so the goroutine that
// serves it, once woken, finds them all queued and can write them at once.
func (h *Hub) PublishBatch(ticks []*Tick) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		for i, t := range ticks {
			if !s.offer(t) {
				h.cutSlowLocked(s, len(ticks)-i) // this tick and the rest of the batch
				break
			}
		}
	}
}

// offer queues t unless the queue is full.
func (s *Subscription) offer(t *Tick) bool {
	select {
	case s.queue <- t:
		return true
	default:
		return false
	}
}

// CutAll ends every subscription with err, e.g. when the feed restarts.
func (h *Hub) CutAll(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		h.cutLocked(s, err)
	}
}

// Len returns the number of subscribers.
func (h *Hub) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

func (h *Hub) cutLocked(s *Subscription, err error) {
	delete(h.subs, s)
	s.err = err
	close(s.done)
}

// cutSlowLocked cuts off a subscriber whose queue had no room for unsent
// ticks. Those, and the ticks still queued, will never be sent on this
// subscription: the client must resume to get them.
func (h *Hub) cutSlowLocked(s *Subscription, unsent int) {
	s.dropped = unsent + len(s.queue) // before done is closed: Dropped reads it then
	h.cutLocked(s, ErrSlowConsumer)
}

// Done is closed when the hub has cut this subscriber off.
func (s *Subscription) Done() <-chan struct{} { return s.done }

// Err returns why the hub cut the subscriber off; call it after Done is closed.
func (s *Subscription) Err() error {
	<-s.done
	return s.err
}

// Dropped returns how many ticks the hub discarded when it cut a slow
// subscriber off; call it after Done is closed.
func (s *Subscription) Dropped() int {
	<-s.done
	return s.dropped
}

// Close unsubscribes. It is safe to call after the hub has cut s off.
func (s *Subscription) Close() {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	if _, ok := s.hub.subs[s]; ok {
		s.hub.cutLocked(s, errClosed)
	}
}

var errClosed = errors.New("subscription closed")

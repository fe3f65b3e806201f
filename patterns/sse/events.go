package sse

import (
	"encoding/json"
	"strconv"
	"sync/atomic"

	r3sse "github.com/r3labs/sse/v2"

	"commlab/shared"
)

// The events the story sends. A tick's event is the same for every client, so
// it is built once, by the first client that needs it, and shared: r3labs only
// reads the Events it is given (with AutoReplay and EncodeBase64 off, see
// newR3labs), and so does the feed's tick.

var (
	tickType  = []byte("tick")
	resetType = []byte(shared.OpReset)

	// heartbeat is a comment line. Never an event with empty data and empty
	// comment: r3labs takes that as the end of the stream ([5] in r3labs.go).
	heartbeat = &r3sse.Event{Comment: []byte("heartbeat")}
)

// eventCacheSize is how many recent ticks keep their event: enough for the
// spread of seqs that clients handle at the same moment. A miss costs one
// allocation, never a wrong event.
const eventCacheSize = 1024

// eventCache holds the events of recent ticks, slot seq % eventCacheSize. It
// takes no lock: a slot is an atomic pointer, and two clients that miss at once
// both build the event and the last store wins; both events are right.
type eventCache struct {
	slots [eventCacheSize]atomic.Pointer[cachedEvent]
}

// cachedEvent is one tick's event with the bytes of its id, in one allocation.
// The key is the tick itself, not its seq: after a feed restart, seq 5 is
// another tick. The gateway keeps one *Tick per tick, in the history and in
// every hub queue alike.
type cachedEvent struct {
	tick *shared.Tick
	ev   r3sse.Event
	id   [20]byte // the digits of any uint64
}

// tick returns t's event:
//
//	id: <seq>
//	data: <the feed's bytes, as they are: every pattern sends the same ones>
//	event: tick
func (c *eventCache) tick(t *shared.Tick) *r3sse.Event {
	slot := &c.slots[t.Seq%eventCacheSize]
	if ce := slot.Load(); ce != nil && ce.tick == t {
		return &ce.ev
	}
	ce := &cachedEvent{tick: t}
	ce.ev = r3sse.Event{ID: strconv.AppendUint(ce.id[:0], t.Seq, 10), Event: tickType, Data: t.Raw}
	slot.Store(ce)
	return &ce.ev
}

// resetEvent says that the client's sequence cannot continue, and that the
// stream goes on after next: the next tick is next+1. It carries id next, so that a reconnect resumes from there:
// an event with an empty id would clear the browser's Last-Event-ID.
func resetEvent(epoch string, next uint64) *r3sse.Event {
	data, err := json.Marshal(shared.Control{Op: shared.OpReset, Epoch: epoch, Next: next})
	if err != nil {
		panic(err) // a struct of a string and numbers always marshals
	}
	return &r3sse.Event{ID: strconv.AppendUint(nil, next, 10), Event: resetType, Data: data}
}

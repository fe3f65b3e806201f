package natsqueue

import (
	"math"
	"sync"
	"time"
)

// The core queue group cannot say what became of a tick: there are no acks,
// and the server does not remember which member got which tick. So the pool
// keeps a ledger. An auditor, a plain subscriber on work.ticks beside the queue
// group, gets every tick and opens an entry for it; the worker that finishes a
// tick closes it. An open entry is in flight until it is settled as gone.
//
// When is an unfinished tick certainly gone, and not just waiting in some live
// worker's queue? NATS delivers one publisher's messages to each subscriber in
// order, so a live worker that has started a tick with a higher seq, or that
// holds nothing at all, no longer has this one coming. Once that is true of
// every live worker of the pool, the tick is gone. The settle margin only
// covers the instant between the server sending a tick and an idle worker's
// client having it: microseconds on one host, so the default of 500 ms is
// generous. A backlog, however long, does not need a margin: its worker is not
// idle, and has not passed the tick yet.
//
// Gone is not the same as lost. The pool knows exactly what its own workers
// lost: each killed worker counts the ticks it held, and each client counts
// what it dropped as a slow consumer. Every other gone tick never reached a
// worker of this pool, and the pool cannot say why: another member of the
// group took it (`commlab worker --kind core`, `nats sub --queue workers
// work.ticks`), or it went to a killed worker's connection before the server
// noticed, or no member was listening. Those are counted as unknown, not lost.
//
// Should a tick settled as gone still be finished later after all, the ledger
// corrects itself and counts it under late: processed + lost + unknown + in
// flight always equals published.
//
// The account begins once every worker has joined the group (begin): a tick
// published before that may have found no worker, and would count as gone
// though no worker died. Ticks up to the last one the auditor had seen by then
// are left out of the account, both their publishing and their processing.

// ledgerKeep is how long the ledger remembers a finished tick, to spot a
// duplicate or a late arrival. It bounds the ledger's memory however long the
// lab runs: about keep × rate entries.
const ledgerKeep = 30 * time.Second

// coreLedger is the core queue group's loss accounting.
type coreLedger struct {
	mu     sync.Mutex
	margin time.Duration
	open   map[uint64]time.Time // seen by the auditor, not finished or settled yet: in flight
	done   recentSet            // finished or settled as gone, lately
	goneAt recentSet            // settled as gone, lately

	begun       bool
	from        uint64                // seqs up to this one are not in the account
	lastAudited uint64                // the newest seq the auditor saw
	early       map[uint64]earlyEntry // before begin: what happened to each seq

	published, processed, gone, late, duplicates, invalid uint64
}

// earlyEntry is what happened to a seq before the account began.
type earlyEntry struct {
	audited, finished bool
	seen              time.Time
}

func newCoreLedger(margin time.Duration) *coreLedger {
	return &coreLedger{
		margin: margin,
		open:   make(map[uint64]time.Time),
		done:   newRecentSet(ledgerKeep),
		goneAt: newRecentSet(ledgerKeep),
		early:  make(map[uint64]earlyEntry),
	}
}

// begin starts the account after the newest tick audited so far. The pool
// calls it on the auditor's goroutine once every worker has joined, so every
// later tick was published while the whole group was listening.
func (l *coreLedger) begin(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.begun, l.from = true, l.lastAudited
	for seq, e := range l.early {
		if seq <= l.from {
			continue
		}
		if e.audited {
			l.auditLocked(seq, e.seen)
		}
		if e.finished {
			l.finishLocked(seq, now)
		}
	}
	l.early = nil
}

// audit records a tick the auditor saw published.
func (l *coreLedger) audit(seq uint64, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lastAudited = seq
	if !l.begun {
		e := l.early[seq]
		e.audited, e.seen = true, now
		l.early[seq] = e
		return
	}
	l.auditLocked(seq, now)
}

func (l *coreLedger) auditLocked(seq uint64, now time.Time) {
	l.published++
	if l.done.has(seq) {
		return // a worker was quicker than the auditor
	}
	l.open[seq] = now
}

// auditInvalid counts a message on work.ticks that was not a tick.
func (l *coreLedger) auditInvalid() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.begun {
		l.invalid++
	}
}

// finish records a tick a core worker finished.
func (l *coreLedger) finish(seq uint64, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case !l.begun:
		e := l.early[seq]
		e.finished = true
		l.early[seq] = e
		return
	case seq <= l.from:
		return // published before the account began
	}
	l.finishLocked(seq, now)
}

func (l *coreLedger) finishLocked(seq uint64, now time.Time) {
	if l.done.has(seq) {
		if l.goneAt.has(seq) {
			l.goneAt.remove(seq)
			l.gone--
			l.late++
			l.processed++
			return
		}
		l.duplicates++ // never, on a queue group: each tick goes to one member
		return
	}
	l.done.add(seq, now)
	l.processed++
	delete(l.open, seq)
}

// settle counts as gone every open tick older than the margin with a seq below
// watermark: the lowest seq any live worker may still hold (math.MaxUint64
// when none holds anything).
func (l *coreLedger) settle(now time.Time, watermark uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for seq, seen := range l.open {
		if seq < watermark && now.Sub(seen) >= l.margin {
			delete(l.open, seq)
			l.gone++
			l.done.add(seq, now)
			l.goneAt.add(seq, now)
		}
	}
	l.done.prune(now)
	l.goneAt.prune(now)
}

// CoreTotals is the core queue group's account, from the pool's ledger. Once
// nothing is in flight, processed + lost + unknown = published.
type CoreTotals struct {
	Published  uint64 `json:"published"`  // ticks seen on work.ticks since the pool started
	Processed  uint64 `json:"processed"`  // ticks a worker of this pool finished
	Lost       uint64 `json:"lost"`       // ticks a worker of this pool received and never finished: it was killed holding them, or its client dropped them
	Unknown    uint64 `json:"unknown"`    // ticks no worker of this pool received: taken by a worker outside it, sent to a dead one, or to none; core NATS cannot say which
	InFlight   uint64 `json:"in_flight"`  // none of those yet: queued at a worker, or not settled
	Dropped    uint64 `json:"dropped"`    // of the lost: dropped by a worker's client as a slow consumer
	Late       uint64 `json:"late"`       // finished after being settled as gone (already moved to processed)
	Duplicates uint64 `json:"duplicates"` // finished twice: never expected on a queue group
	Invalid    uint64 `json:"invalid"`    // messages on work.ticks that were not ticks
}

// totals reads the account. lostByWorkers is what the pool's own workers
// counted as lost (held when killed, dropped by their clients): that many of
// the gone ticks are lost, the rest unknown. Right after a kill the ledger may
// not have settled the victim's ticks yet; until it has, they are in flight.
func (l *coreLedger) totals(lostByWorkers uint64) CoreTotals {
	l.mu.Lock()
	defer l.mu.Unlock()
	lost := min(lostByWorkers, l.gone)
	return CoreTotals{
		Published:  l.published,
		Processed:  l.processed,
		Lost:       lost,
		Unknown:    l.gone - lost,
		InFlight:   uint64(len(l.open)),
		Late:       l.late,
		Duplicates: l.duplicates,
		Invalid:    l.invalid,
	}
}

// noWatermark is the watermark when no live worker holds any tick.
const noWatermark = math.MaxUint64

// jsLedger counts the messages the JetStream workers processed by stream
// sequence, so a message processed twice shows up as a duplicate.
type jsLedger struct {
	mu                    sync.Mutex
	done                  recentSet
	processed, duplicates uint64
}

func newJSLedger() *jsLedger { return &jsLedger{done: newRecentSet(ledgerKeep)} }

func (l *jsLedger) finish(streamSeq uint64, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done.has(streamSeq) {
		l.duplicates++
		return
	}
	l.done.add(streamSeq, now)
	l.processed++
}

func (l *jsLedger) counts() (processed, duplicates uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.processed, l.duplicates
}

// recentSet is a set of seqs that forgets each one keep after it was added.
type recentSet struct {
	keep  time.Duration
	at    map[uint64]time.Time
	order []stamped // oldest first
}

type stamped struct {
	seq uint64
	at  time.Time
}

func newRecentSet(keep time.Duration) recentSet {
	return recentSet{keep: keep, at: make(map[uint64]time.Time)}
}

func (s *recentSet) has(seq uint64) bool {
	_, ok := s.at[seq]
	return ok
}

func (s *recentSet) add(seq uint64, now time.Time) {
	s.at[seq] = now
	s.order = append(s.order, stamped{seq, now})
	s.prune(now)
}

func (s *recentSet) remove(seq uint64) { delete(s.at, seq) }

// prune forgets the seqs added more than keep ago.
func (s *recentSet) prune(now time.Time) {
	i := 0
	for ; i < len(s.order) && now.Sub(s.order[i].at) > s.keep; i++ {
		e := s.order[i]
		if at, ok := s.at[e.seq]; ok && at.Equal(e.at) { // not removed or re-added since
			delete(s.at, e.seq)
		}
	}
	s.order = s.order[i:]
}

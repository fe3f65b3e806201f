package sse

import (
	"context"
	"errors"
	"fmt"
	"time"

	"commlab/shared"
)

// This file is the lesson: one client's stream, top to bottom, in three steps.
//
//  1. Subscribe to the hub, so that no tick published from now on is missed.
//  2. Catch up: send the held ticks after the client's last id, from the history.
//  3. Live: send each tick from the subscription, skipping those already sent.
//
// out is the client's queue of events (r3labs.go): out.send queues an event
// without waiting and fails when the queue is full; out.sendPaced waits for
// room first; out.sendLast waits until the event is written. The stream ends
// when stream returns, for the reason it returns.

// replayBatch is how many held ticks catchUp reads from the history at a time.
const replayBatch = 256

// stream sends one client's ticks, after since when resume is set, until ctx
// ends or the stream must end, and returns why. A nil keep keeps every tick;
// otherwise only the ticks of the symbols it keeps are sent (?symbols=).
func (s *server) stream(ctx context.Context, out *conn, since uint64, resume bool, keep func(symbol string) bool) error {
	// 1. Subscribe before reading the history: a tick published in between is
	// then in the subscription, in the history, or in both; never in neither.
	sub := s.gw.Hub.Subscribe(s.opts.QueueLen)
	defer func() { sub.Close() }() // catchUp may replace sub

	// 2. Catch up, when the client says where it was.
	last := since
	if resume {
		var err error
		if sub, last, err = s.catchUp(ctx, out, sub, since, keep); err != nil {
			return err
		}
	}

	// 3. Live.
	return s.live(ctx, out, sub, last, keep)
}

// catchUp sends the held ticks after since, a batch at a time, at the pace the
// client reads them. It returns a subscription that holds every tick after the
// last one sent, and that tick's seq.
func (s *server) catchUp(ctx context.Context, out *conn, sub *shared.Subscription, since uint64, keep func(string) bool) (_ *shared.Subscription, last uint64, err error) {
	last = since
	buf := make([]*shared.Tick, 0, replayBatch)
	for {
		ticks, after, reset := s.gw.History.Since(last, replayBatch, buf[:0])
		if reset {
			// The ticks right after last are gone: say so before what follows.
			if !out.sendPaced(ctx, resetEvent(s.gw.Epoch(), after)) {
				return sub, last, context.Cause(ctx)
			}
			last = after
		}
		for _, t := range ticks {
			if keep != nil && !keep(t.Symbol) {
				last = t.Seq // not this client's symbol: passed, not sent
				continue
			}
			if !out.sendPaced(ctx, s.events.tick(t)) {
				return sub, last, context.Cause(ctx)
			}
			s.sent(t)
			last = t.Seq
		}
		if len(ticks) == replayBatch {
			continue // more may be held
		}
		select {
		default:
			return sub, last, nil // caught up: the subscription holds what follows
		case <-sub.Done():
			if !errors.Is(sub.Err(), shared.ErrSlowConsumer) {
				return sub, last, s.hubCut(ctx, out, sub)
			}
			// While the replay went at the client's pace, live ticks overflowed
			// the subscription. They are in the history: subscribe again, then
			// read on from the history.
			sub.Close()
			sub = s.gw.Hub.Subscribe(s.opts.QueueLen)
		}
	}
}

// live sends the subscription's ticks after last, and a heartbeat now and then.
// It never waits for the client: a client whose queue is full is too slow.
func (s *server) live(ctx context.Context, out *conn, sub *shared.Subscription, last uint64, keep func(string) bool) error {
	heartbeats := time.NewTicker(s.opts.Heartbeat)
	defer heartbeats.Stop()
	for {
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-sub.Done():
			return s.hubCut(ctx, out, sub)
		case t := <-sub.C:
			if t.Seq <= last {
				continue // sent already, from the history
			}
			if keep != nil && !keep(t.Symbol) {
				continue // not this client's symbol
			}
			if !out.send(s.events.tick(t)) {
				s.stats.Drops.Add(1) // the tick that did not fit: the client gets it when it resumes
				return errQueueFull
			}
			s.sent(t)
			last = t.Seq
		case <-heartbeats.C:
			if !out.send(heartbeat) {
				return errQueueFull
			}
		}
	}
}

// hubCut tells the client what it must know about the end of its subscription,
// and returns why the hub ended it.
func (s *server) hubCut(ctx context.Context, out *conn, sub *shared.Subscription) error {
	err := sub.Err()
	switch {
	case errors.Is(err, shared.ErrSlowConsumer):
		// The hub does not wait for anyone either: this stream fell behind.
		s.stats.Drops.Add(uint64(sub.Dropped()))
		return fmt.Errorf("%w: hub queue full", errSlowClient)
	case errors.Is(err, shared.ErrFeedRestarted):
		// Seqs start again at 1 under a new epoch. The reset (next 0, id 0)
		// moves the client there, so its reconnect asks for the new epoch's
		// ticks from the first. If it cannot be sent, the client reconnects
		// with its old id and the history tells it to reset.
		out.sendLast(ctx, resetEvent(s.gw.Epoch(), 0))
	}
	return err
}

// sent accounts for a tick handed to r3labs. r3labs has no hook for the moment
// it is written; the queue between the two is short.
func (s *server) sent(t *shared.Tick) {
	s.stats.Messages.Add(1)
	s.stats.ObserveLatency(t, time.Now())
}

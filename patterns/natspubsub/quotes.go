package natspubsub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/nats-io/nats.go"

	"commlab/shared"
)

// QuoteSubjects is where a QuoteService takes requests: quote.<SYMBOL>, the
// symbol as one token, as in ticks.<SYMBOL>. It is this package's extension to
// the lab's subjects, outside ticks.>, so no tick subscriber ever sees a
// request.
const QuoteSubjects = "quote.*"

// quoteQueue is how many ticks and requests may wait for the service's loop
// before the client library drops new ones, as for any slow subscriber.
const quoteQueue = 4096

// QuoteService answers "what is SYMBOL's last price?" on quote.<SYMBOL> with
// the newest tick it heard for SYMBOL on ticks.*: request/reply, built on
// publish/subscribe.
//
// A request is an ordinary message that carries a reply subject. The command
// nats request quote.ACME "" subscribes to a fresh inbox (_INBOX.<random>),
// publishes an empty message to quote.ACME with that inbox as its reply
// subject, and waits for one message on the inbox. The service answers by
// publishing to the inbox (m.Respond). A request to a subject nobody is
// subscribed to is not met with silence: the server answers it at once with a
// "no responders" status (nats.ErrNoResponders in Go).
//
// The service knows only what it has heard. Core NATS keeps no ticks, so a
// symbol whose last tick was published before the service subscribed is
// unknown to it until the next one.
type QuoteService struct {
	log   *slog.Logger
	ready chan struct{}

	// last is the newest tick of each symbol heard since Serve subscribed.
	// record writes it and answer reads it, both on Serve's loop, the only
	// code that touches it: no lock.
	last map[string]shared.Tick
}

// NewQuoteService returns a quote service, not yet serving. log may be nil.
func NewQuoteService(log *slog.Logger) *QuoteService {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &QuoteService{
		log:   log.With("pattern", "pubsub", "service", "quotes"),
		ready: make(chan struct{}),
		last:  make(map[string]shared.Tick),
	}
}

// Ready is closed once the server has both of the service's subscriptions:
// from then on every tick and every request reaches it.
func (q *QuoteService) Ready() <-chan struct{} { return q.ready }

// Serve subscribes nc to ticks.* and to quote.*, and handles what arrives
// until ctx ends; then it unsubscribes, waits until the server has taken the
// subscriptions off, and returns nil. Serve a service once.
//
// Both subscriptions deliver into one channel, and one loop takes from it: the
// library's reader puts each message in the channel in the order it read them
// from the socket, so the loop records a tick and answers a request in that
// order too. The server forwards one connection's messages in order, so a
// request sent on the feed's own connection after a tick is answered with
// that tick or a newer one. A request from another connection races the
// ticks in flight, as any reader of a live price does.
func (q *QuoteService) Serve(ctx context.Context, nc *nats.Conn) error {
	msgs := make(chan *nats.Msg, quoteQueue)
	// ticks.* and not ticks.>: a symbol is one token, and ticks.ACME.x is no
	// symbol's tick.
	ticks, err := nc.ChanSubscribe("ticks.*", msgs)
	if err != nil {
		return fmt.Errorf("natspubsub: quotes: subscribe ticks.*: %w", err)
	}
	requests, err := nc.ChanSubscribe(QuoteSubjects, msgs)
	if err != nil {
		q.unsubscribe(nc, ticks)
		return fmt.Errorf("natspubsub: quotes: subscribe %s: %w", QuoteSubjects, err)
	}
	defer q.unsubscribe(nc, ticks, requests)

	// As in Subscribe: wait until the server has both SUBs.
	stopped, err := confirmSubscribed(ctx, nc)
	if stopped {
		return nil
	}
	if err != nil {
		return fmt.Errorf("natspubsub: quotes: confirm subscriptions: %w", err)
	}
	close(q.ready)
	q.log.Info("quotes: serving", "requests", QuoteSubjects, "ticks", "ticks.*")

	for {
		select {
		case <-ctx.Done():
			return nil
		case m := <-msgs:
			if m.Sub == requests {
				q.answer(m)
			} else {
				q.record(m)
			}
		}
	}
}

// unsubscribe ends subs and waits until the server has the UNSUBs. Without
// the wait, a request sent a moment after Serve returned could still be routed
// here, to a subscription this client has already forgotten, and its
// requester would wait out its timeout. With it, a stopped service is at once
// "no responders" to every request sent after it stopped; one that was
// already on its way in when ctx ended still goes unanswered, and waits out
// its timeout, as with any service that stops mid-request.
func (q *QuoteService) unsubscribe(nc *nats.Conn, subs ...*nats.Subscription) {
	for _, sub := range subs {
		if err := sub.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
			q.log.Debug("quotes: unsubscribe", "subject", sub.Subject, "err", err)
		}
	}
	if err := nc.FlushTimeout(flushTimeout); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		q.log.Debug("quotes: confirm unsubscribe", "err", err)
	}
}

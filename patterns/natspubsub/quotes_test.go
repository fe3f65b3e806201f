package natspubsub

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"commlab/shared/labtest"
)

// startQuotes runs a QuoteService on a NATS connection of its own until the
// test ends, or until stop is called, and returns once the server has its
// subscriptions.
func startQuotes(t *testing.T, lab *labtest.Lab) (stop func()) {
	t.Helper()
	nc, err := lab.Broker.Connect("test-quotes")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close) // runs after stop
	q := NewQuoteService(testLogger(t))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- q.Serve(ctx, nc) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("got Serve error %v after cancel, want nil", err)
				}
			case <-time.After(10 * time.Second):
				t.Errorf("Serve did not return within 10s of cancel")
			}
		})
	}
	t.Cleanup(stop)
	select {
	case <-q.Ready():
	case err := <-done:
		t.Fatalf("Serve returned %v before subscribing", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the quote service did not subscribe within 10s")
	}
	return stop
}

// TestQuoteServiceSubscriptions checks who takes a request: the server answers
// "no responders" at once, with no timeout to wait for, whenever no
// subscription matches the request's subject: before the service subscribed,
// for a subject quote.* does not match, and after it unsubscribed.
func TestQuoteServiceSubscriptions(t *testing.T) {
	lab := labtest.Start(t, nil)
	noResponders := func(t *testing.T, subject, when string) {
		t.Helper()
		// The answer comes at once; a timeout would be a subscription that
		// still matched, with nobody answering on it.
		_, err := lab.NC.Request(subject, nil, 10*time.Second)
		if !errors.Is(err, nats.ErrNoResponders) {
			t.Errorf("%s: request %s: got %v, want nats.ErrNoResponders", when, subject, err)
		}
	}

	noResponders(t, "quote.ACME", "before the service runs")
	stop := startQuotes(t, lab)
	noResponders(t, "quote.ACME.x", "quote.* is one token")
	noResponders(t, "quote", "quote.* needs a token after quote")
	stop()
	noResponders(t, "quote.ACME", "after the service stopped")
}

// TestQuoteServiceEnds checks that Serve returns nil at once for an ended
// context, and an error for a connection that is already closed.
func TestQuoteServiceEnds(t *testing.T) {
	lab := labtest.Start(t, nil)
	nc, err := lab.Broker.Connect("test-quotes-ends")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := NewQuoteService(nil).Serve(ctx, nc); err != nil {
		t.Errorf("ended context: got %v, want nil", err)
	}
	nc.Close()
	if err := NewQuoteService(nil).Serve(context.Background(), nc); !errors.Is(err, nats.ErrConnectionClosed) {
		t.Errorf("closed connection: got %v, want nats.ErrConnectionClosed", err)
	}
}

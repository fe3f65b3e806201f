//go:build exercise

package natspubsub

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"commlab/shared"
	"commlab/shared/labtest"
)

// replyTimeout is how long ask waits for an answer. A loopback round trip
// takes well under a millisecond; only a request nobody answers waits it out.
const replyTimeout = 2 * time.Second

// ask sends a request to quote.<symbol> and returns the reply, as
// nats request quote.<symbol> "" would. It asks from the feed's own
// connection: the server forwards one connection's messages in order, so
// every tick published before the request reaches the service before it.
func ask(t *testing.T, lab *labtest.Lab, symbol string) []byte {
	t.Helper()
	subject := "quote." + symbol
	m, err := lab.NC.Request(subject, nil, replyTimeout)
	switch {
	case errors.Is(err, nats.ErrTimeout):
		t.Fatalf("no reply to %s within %v: the service gets the request (it subscribes to %s), "+
			"but answer sends nothing back; reply with m.Respond", subject, replyTimeout, QuoteSubjects)
	case err != nil:
		t.Fatalf("request %s: %v", subject, err)
	}
	t.Logf("nats request %s '' -> %s", subject, m.Data)
	return m.Data
}

// wantTick checks that a quote is want's exact bytes.
func wantTick(t *testing.T, symbol string, got []byte, want shared.Tick) {
	t.Helper()
	if bytes.Equal(got, want.Raw) {
		return
	}
	if bytes.Contains(got, []byte(`"error"`)) {
		t.Errorf("quote.%s: got the error %s, want %s's newest tick, %s: does record keep every tick in q.last?",
			symbol, got, symbol, want.Raw)
		return
	}
	t.Errorf("quote.%s: got %q, want %s's newest tick byte for byte (its Raw): %s", symbol, got, symbol, want.Raw)
}

// wantQuoteError checks that a quote is the lab's error body naming symbol.
func wantQuoteError(t *testing.T, symbol string, got []byte, why string) {
	t.Helper()
	var body struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(got, &body); err != nil || !strings.Contains(body.Error, symbol) {
		t.Errorf(`quote.%s: got %q, want {"error": "..."} naming %s: %s`, symbol, got, symbol, why)
	}
}

// TestExerciseQuoteLastPrice asks for every symbol after 100 ticks: each quote
// is that symbol's newest tick, byte for byte, and it moves on with the feed.
func TestExerciseQuoteLastPrice(t *testing.T) {
	lab := labtest.Start(t, nil)
	startQuotes(t, lab)

	newest := make(map[string]shared.Tick)
	for _, tk := range lab.Publish(t, 100) {
		newest[tk.Symbol] = tk
	}
	for _, symbol := range slices.Sorted(maps.Keys(newest)) {
		wantTick(t, symbol, ask(t, lab, symbol), newest[symbol])
	}

	next := lab.Publish(t, 1)[0]
	wantTick(t, next.Symbol, ask(t, lab, next.Symbol), next)
}

// TestExerciseQuoteUnknownSymbol checks the error reply: for a symbol never
// published, for one whose only message was not a tick, and for one whose
// ticks all came before the service subscribed, until its next tick.
func TestExerciseQuoteUnknownSymbol(t *testing.T) {
	lab := labtest.Start(t, nil)
	early := lab.Publish(t, 20) // nobody but the gateway hears these
	startQuotes(t, lab)

	wantQuoteError(t, "NOPE", ask(t, lab, "NOPE"), "no tick was ever published on ticks.NOPE")

	if err := lab.NC.Publish("ticks.JUNK", []byte("not a tick")); err != nil {
		t.Fatal(err)
	}
	wantQuoteError(t, "JUNK", ask(t, lab, "JUNK"), "the only message on ticks.JUNK was not a tick")

	symbol := early[len(early)-1].Symbol
	wantQuoteError(t, symbol, ask(t, lab, symbol),
		"its ticks were all published before the service subscribed, and core NATS keeps none to replay")

	var next shared.Tick
	for next.Symbol != symbol {
		next = lab.Publish(t, 1)[0] // 8 symbols at random: a few dozen at most
	}
	wantTick(t, symbol, ask(t, lab, symbol), next)
}

//go:build solution

package natspubsub

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go"

	"commlab/shared"
)

// record keeps the newest tick of each symbol. The feed publishes a symbol's
// ticks in seq order and the loop takes them in that order, so the last one
// recorded is the newest.
func (q *QuoteService) record(m *nats.Msg) {
	// ParseTick validates, and copies the bytes into t.Raw: m.Data is safe
	// to keep too, but a copy says so without reading nats.go.
	t, err := shared.ParseTick(m.Data)
	if err != nil {
		q.log.Warn("quotes: skipped a message that is not a tick", "subject", m.Subject, "err", err)
		return
	}
	q.last[t.Symbol] = t
}

// answer replies to one request. Its argument is in the subject, not in the
// payload: quote.* matched exactly one token after "quote.", the symbol. The
// payload (empty from nats request quote.ACME "") is not read.
func (q *QuoteService) answer(m *nats.Msg) {
	symbol := strings.TrimPrefix(m.Subject, "quote.")
	t, known := q.last[symbol]
	reply := t.Raw // the bytes every pattern sends for this tick
	if !known {
		reply = quoteError(symbol)
	}
	// Respond publishes reply to m.Reply, the inbox the requester listens
	// on for this one answer. A plain publish to quote.ACME has no reply
	// subject: there is nobody to answer, and Respond says so.
	if err := m.Respond(reply); err != nil {
		q.log.Debug("quotes: cannot reply", "subject", m.Subject, "err", err)
		return
	}
	q.log.Debug("quotes: answered", "symbol", symbol, "known", known)
}

// quoteError is the reply for a symbol the service has not heard: the lab's
// error body, {"error": "..."}, as its HTTP endpoints send it. A requester
// tells it from a tick by its key.
func quoteError(symbol string) []byte {
	msg := fmt.Sprintf("unknown symbol %q: no tick on ticks.%s since the quote service subscribed", symbol, symbol)
	b, _ := json.Marshal(map[string]string{"error": msg}) // a map of strings always encodes
	return b
}

//go:build !solution

package natspubsub

import "github.com/nats-io/nats.go"

// record is called by Serve with every message on ticks.*. Keep the tick as
// q.last[symbol], that symbol's newest, for answer to hand out; a message that
// is not a tick (shared.ParseTick says why) changes nothing.
//
// TODO(exercise): parse m.Data and keep the tick.
func (q *QuoteService) record(m *nats.Msg) {}

// answer is called by Serve with every request on quote.*, such as
// quote.ACME. Reply (m.Respond) with the exact bytes of ACME's last recorded
// tick or, for a symbol not heard since the service subscribed, with
// {"error": "..."} naming the symbol. Today nobody replies: requests time out.
//
// TODO(exercise): take the symbol from m.Subject and reply.
func (q *QuoteService) answer(m *nats.Msg) {}

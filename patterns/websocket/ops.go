package websocket

import (
	"context"
	"encoding/json"
	"errors"

	ws "github.com/coder/websocket"
)

// This file is the other direction: what a client may say on its socket, and
// what happens when it says something else.

// opSymbols is the one op a client may send. The server answers with the same
// object as an acknowledgement, and the ack is the boundary in the stream: every
// tick written before it passed the old filter, every tick after it passes the
// new one, including ticks queued for the client before the op arrived.
const opSymbols = "symbols"

// symbolsOp is the client's {"op":"symbols","symbols":["ACME"]}, which narrows
// its stream to those symbols (an empty list restores all), and the server's
// acknowledgement of it.
type symbolsOp struct {
	Op      string   `json:"op"`
	Symbols []string `json:"symbols"`
}

// badFrame is a client message the server refuses. The connection is closed
// with code and reason, and reason is counted as bad input.
type badFrame struct {
	code   ws.StatusCode
	reason string // a stable label: "invalid_json", "unknown_op", ...
}

func (b *badFrame) Error() string { return "bad frame: " + b.reason }

// read is the reader goroutine. It hands each valid op to the writer and
// returns the first error: a *badFrame, the client's close, or a broken
// connection. Reading with ctx means that cancelling it closes the connection.
func (s *session) read(ctx context.Context, ops chan<- symbolsOp) error {
	for {
		typ, data, err := s.c.Read(ctx)
		if errors.Is(err, ws.ErrMessageTooBig) {
			// The library has already sent the close frame, 1009 with its own reason.
			return &badFrame{code: ws.StatusMessageTooBig, reason: "too_big"}
		}
		if err != nil {
			return err
		}
		op, bad := s.parseOp(typ, data)
		if bad != nil {
			return bad
		}
		select {
		case ops <- op:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// parseOp checks one client message; the only valid one is the symbols op.
func (s *session) parseOp(typ ws.MessageType, data []byte) (symbolsOp, *badFrame) {
	var op symbolsOp
	if typ != ws.MessageText {
		return op, &badFrame{code: ws.StatusUnsupportedData, reason: "binary_frame"}
	}
	if err := json.Unmarshal(data, &op); err != nil {
		return op, &badFrame{code: ws.StatusInvalidFramePayloadData, reason: "invalid_json"}
	}
	if op.Op != opSymbols {
		return op, &badFrame{code: ws.StatusPolicyViolation, reason: "unknown_op"}
	}
	for _, sym := range op.Symbols {
		if !s.srv.known[sym] {
			return op, &badFrame{code: ws.StatusPolicyViolation, reason: "unknown_symbol"}
		}
	}
	return op, nil
}

// setSymbols applies the client's symbols op and acknowledges it. The ack is
// written by the same goroutine as the ticks, so every tick after it is filtered.
func (s *session) setSymbols(op symbolsOp) error {
	s.symbols = nil
	if len(op.Symbols) > 0 {
		s.symbols = make(map[string]bool, len(op.Symbols))
		for _, sym := range op.Symbols {
			s.symbols[sym] = true
		}
	}
	s.srv.log.Debug("symbols set", "pattern", s.srv.stats.Name, "remote", s.remote, "symbols", op.Symbols)
	ack := symbolsOp{Op: opSymbols, Symbols: op.Symbols}
	if ack.Symbols == nil {
		ack.Symbols = []string{} // [] in JSON, not null
	}
	return s.sendJSON(ack)
}

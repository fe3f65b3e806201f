//go:build solution

package websocket

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	ws "github.com/coder/websocket"

	"commlab/shared"
)

// changeSymbols changes the filter of a running connection c: it sends the
// symbols op and reads on until the server acknowledges it, handing fn each tick
// that arrives first (those were sent under the old filter). It returns nil once
// the ack is read, so every tick c brings after that passes the new filter, and
// an error if the connection ends before the ack: a refused op is a close.
//
// Ending ctx while it waits closes c: coder/websocket cannot abandon a read
// halfway through a frame, so it drops the connection instead.
func changeSymbols(ctx context.Context, c *ws.Conn, symbols []string, fn func(shared.Tick)) error {
	// The op goes up while ticks keep coming down: the socket is full-duplex,
	// and the server may have written any number of ticks that we have not
	// read yet. sendSymbols (client.go) is what Subscribe sends at connect.
	if err := sendSymbols(c, symbols); err != nil {
		return err
	}

	// The server answers on the same stream as the ticks, in order: whatever
	// comes before the ack went out under the old filter, and is still a real
	// tick, so it goes to fn instead of being thrown away.
	for {
		typ, data, err := c.Read(ctx)
		if err != nil {
			// An unknown symbol is refused with a close, 1008 "unknown_symbol":
			// the error says so, and ws.CloseStatus(err) reads the code.
			return fmt.Errorf("websocket: wait for the symbols ack: %w", err)
		}
		if typ != ws.MessageText {
			return errors.New("websocket: server sent a binary frame")
		}
		if t, err := shared.ParseTick(data); err == nil {
			fn(t)
			continue
		}
		// One op is in flight, and the server answers ops in order, so the
		// first symbols ack is ours.
		var ack symbolsOp
		if json.Unmarshal(data, &ack) == nil && ack.Op == opSymbols {
			return nil
		}
		return fmt.Errorf("websocket: got %s while waiting for the symbols ack", data)
	}
}

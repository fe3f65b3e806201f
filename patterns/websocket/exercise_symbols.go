//go:build !solution

package websocket

import (
	"context"

	ws "github.com/coder/websocket"

	"commlab/shared"
)

// changeSymbols changes the filter of a running connection c: it sends the
// symbols op and reads on until the server acknowledges it, handing fn each tick
// that arrives first (those were sent under the old filter). It returns nil once
// the ack is read, so every tick c brings after that passes the new filter, and
// an error if the connection ends before the ack: a refused op is a close.
//
// TODO(exercise): send {"op":"symbols","symbols":[...]} on c, then read until the ack.
func changeSymbols(ctx context.Context, c *ws.Conn, symbols []string, fn func(shared.Tick)) error {
	return nil
}

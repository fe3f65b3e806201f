package websocket_test

import (
	"context"
	"fmt"
	"net/http/httptest"

	"commlab/patterns/websocket"
	"commlab/shared"
	"commlab/shared/labtest"
)

// ExampleSubscribe resumes after seq 1 (?since=1), as a client that had seen
// tick 1 before its connection broke: the server sends the held ticks after
// it, one frame each, and the client stops after three.
func ExampleSubscribe() {
	lab, stop := labtest.ForExample() // a NATS broker, a feed with seed 42, a gateway
	defer stop()
	ws := websocket.Handler(lab.Gateway, lab.Metrics.Pattern("ws"), lab.Log, nil)
	srv := httptest.NewServer(ws)
	defer srv.Close()
	lab.MustPublish(4) // seqs 1 to 4, now held by the gateway

	ctx, cancel := context.WithCancel(context.Background())
	got := 0
	err := websocket.Subscribe(ctx, srv.URL, func(t shared.Tick) {
		fmt.Printf("#%d %-6s %.4f\n", t.Seq, t.Symbol, t.Price)
		if got++; got == 3 {
			cancel() // Subscribe returns nil once ctx ends
		}
	}, &websocket.ClientOptions{Since: 1})
	fmt.Println("err:", err)
	// Output:
	// #2 WAYNE  35.3591
	// #3 ACME   105.8498
	// #4 ACME   105.5337
	// err: <nil>
}

package polling_test

import (
	"context"
	"fmt"
	"net/http/httptest"

	"commlab/patterns/polling"
	"commlab/shared"
	"commlab/shared/labtest"
)

// ExamplePoll asks for the ticks after seq 1 (GET /api/poll?since=1): the
// server answers with the held ones, oldest first, and the client, having
// three, stops before its next poll.
func ExamplePoll() {
	lab, stop := labtest.ForExample() // a NATS broker, a feed with seed 42, a gateway
	defer stop()
	srv := httptest.NewServer(polling.Handler(lab.Gateway, lab.Metrics.Pattern("poll"), lab.Metrics.Pattern("longpoll"), lab.Log))
	defer srv.Close()
	lab.MustPublish(4) // seqs 1 to 4, now held by the gateway

	ctx, cancel := context.WithCancel(context.Background())
	got := 0
	err := polling.Poll(ctx, srv.URL, func(t shared.Tick) {
		fmt.Printf("#%d %-6s %.4f\n", t.Seq, t.Symbol, t.Price)
		if got++; got == 3 {
			cancel() // Poll returns nil once ctx ends
		}
	}, &polling.Options{Since: 1})
	fmt.Println("err:", err)
	// Output:
	// #2 WAYNE  35.3591
	// #3 ACME   105.8498
	// #4 ACME   105.5337
	// err: <nil>
}

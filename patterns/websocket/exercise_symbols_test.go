//go:build exercise

package websocket

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	ws "github.com/coder/websocket"

	"commlab/shared"
	"commlab/shared/labtest"
)

// exerciseConn serves the lab's WebSocket handler on a loopback port and
// dials it: a real connection, subscribed to live ticks once it returns.
func exerciseConn(t *testing.T) (*labtest.Lab, *shared.PatternStats, *ws.Conn) {
	t.Helper()
	lab := labtest.Start(t, nil)
	stats := lab.Metrics.Pattern("ws")
	srv, _ := labtest.Serve(t, Handler(lab.Gateway, stats, lab.Log, nil))
	hc := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(hc.CloseIdleConnections)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := ws.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/api/ws", &ws.DialOptions{HTTPClient: hc})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = c.CloseNow() })
	return lab, stats, c
}

// TestExerciseChangeSymbolsWaitsForTheAck changes the filter of a connection
// that has ticks in flight: 20 of every symbol are already written when the op
// goes up. They must reach fn, in order, and once changeSymbols returns only
// ACME ticks may come.
func TestExerciseChangeSymbolsWaitsForTheAck(t *testing.T) {
	lab, stats, c := exerciseConn(t)
	before := lab.Publish(t, 20)
	labtest.WaitFor(t, "the server to write the first 20 ticks", func() bool { return stats.Messages.Load() == 20 })

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var got []shared.Tick
	err := changeSymbols(ctx, c, []string{"ACME"}, func(tk shared.Tick) { got = append(got, tk) })
	if err != nil {
		t.Fatalf("changeSymbols returned %v, want nil: the server accepts ACME", err)
	}
	if len(got) != len(before) {
		t.Fatalf("changeSymbols handed fn %d ticks, want the %d the server had written before the op: "+
			"they come before the ack, and they are real ticks (does it send the op, and read until the ack?)", len(got), len(before))
	}
	for i := range before {
		if got[i].Seq != before[i].Seq {
			t.Fatalf("fn got seq %d as tick %d, want seq %d: hand fn every tick read before the ack, in order", got[i].Seq, i, before[i].Seq)
		}
	}

	// From here the test reads c itself: only ACME ticks, and no ack, may come.
	after := lab.Publish(t, 80)
	var acme []shared.Tick
	for _, tk := range after {
		if tk.Symbol == "ACME" {
			acme = append(acme, tk)
		}
	}
	if len(acme) == 0 {
		t.Fatal("no ACME tick among 80; pick another seed")
	}
	for _, want := range acme {
		_, data, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("read after changeSymbols: %v", err)
		}
		if strings.Contains(string(data), `"op":"symbols"`) {
			t.Fatalf("read the symbols ack after changeSymbols returned: it must read on until the ack, then return")
		}
		if tk, err := shared.ParseTick(data); err != nil || tk.Seq != want.Seq {
			t.Fatalf("read %s after changeSymbols returned, want the ACME tick seq %d: "+
				"past the ack, the server sends nothing but ACME", data, want.Seq)
		}
	}
}

// TestExerciseChangeSymbolsReportsARefusal asks for a symbol the feed does not
// have. The server's answer is not an ack but a close, 1008 "unknown_symbol",
// and changeSymbols must return it.
func TestExerciseChangeSymbolsReportsARefusal(t *testing.T) {
	_, _, c := exerciseConn(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := changeSymbols(ctx, c, []string{"NOPE"}, func(shared.Tick) {})
	if err == nil {
		t.Fatal("changeSymbols([NOPE]) returned nil, want an error: the server refuses an unknown symbol " +
			"by closing the connection with 1008, and that close is the answer to the op")
	}
	if code := ws.CloseStatus(err); code != ws.StatusPolicyViolation {
		t.Fatalf("changeSymbols([NOPE]) returned %v (close status %v), want the server's close 1008 \"unknown_symbol\" "+
			"wrapped with %%w, so that ws.CloseStatus reads it", err, code)
	}
}

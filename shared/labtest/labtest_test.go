package labtest_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"commlab/shared"
	"commlab/shared/labtest"
)

func TestStartPublishWaitSeq(t *testing.T) {
	lab := labtest.Start(t, nil)
	if !lab.Broker.Embedded() || !lab.NC.IsConnected() || !lab.Broker.Healthy(lab.NC) {
		t.Fatal("lab broker is not an embedded, connected, healthy server")
	}
	if lab.Metrics == nil || lab.Log == nil {
		t.Fatal("lab has no Metrics or Log")
	}
	if got := lab.Feed.Rate(); got != 0 {
		t.Errorf("feed rate = %d, want 0: tests publish by hand", got)
	}

	ticks := lab.Publish(t, 5)
	var got []uint64
	for _, tk := range ticks {
		got = append(got, tk.Seq)
	}
	if want := []uint64{1, 2, 3, 4, 5}; !slices.Equal(got, want) {
		t.Fatalf("Publish returned seqs %v, want %v", got, want)
	}
	// Publish returned only once the gateway held every tick.
	held, after, reset := lab.Gateway.History.Since(0, 100, nil)
	if len(held) != 5 || after != 0 || reset {
		t.Fatalf("gateway holds %d ticks (after %d, reset %v), want 5, 0, false", len(held), after, reset)
	}
	for i, tk := range held {
		if string(tk.Raw) != string(ticks[i].Raw) {
			t.Errorf("seq %d: gateway Raw %s, want %s", tk.Seq, tk.Raw, ticks[i].Raw)
		}
	}
	if got := lab.Gateway.Epoch(); got != lab.Feed.Epoch() {
		t.Errorf("gateway epoch %q, want the feed's %q", got, lab.Feed.Epoch())
	}

	lab.WaitSeq(t, 3) // already held: returns at once
	if got := lab.Publish(t, 0); len(got) != 0 {
		t.Errorf("Publish(0) = %d ticks, want none", len(got))
	}
}

func TestStartIsRepeatable(t *testing.T) {
	// Two labs with the fixed seed produce the same walk: examples can print it.
	a, b := labtest.Start(t, nil), labtest.Start(t, nil)
	ta, tb := a.Publish(t, 20), b.Publish(t, 20)
	for i := range ta {
		if ta[i].Symbol != tb[i].Symbol || ta[i].Price != tb[i].Price || ta[i].Seq != tb[i].Seq {
			t.Fatalf("tick %d: %+v vs %+v, want the same walk", i, ta[i], tb[i])
		}
	}
	if a.Broker.URL() == b.Broker.URL() {
		t.Errorf("two labs share the broker %s, want a random port each", a.Broker.URL())
	}
}

func TestStartHistoryOption(t *testing.T) {
	lab := labtest.Start(t, &labtest.Options{History: 3})
	lab.Publish(t, 5)
	held, after, reset := lab.Gateway.History.Since(0, 100, nil)
	var got []uint64
	for _, tk := range held {
		got = append(got, tk.Seq)
	}
	if !slices.Equal(got, []uint64{3, 4, 5}) || after != 2 || !reset {
		t.Errorf("History 3 after 5 ticks: Since(0) = %v, %d, %v; want [3 4 5], 2, true", got, after, reset)
	}
}

func TestServeCountsBytesAndShutsDown(t *testing.T) {
	lab := labtest.Start(t, nil)
	stats := lab.Metrics.Pattern("test")
	handlerDone := make(chan error, 1)
	srv, shutdown := labtest.Serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		shared.CountWritesAs(r, &stats.Bytes)
		if r.URL.Path == "/once" {
			_, _ = io.WriteString(w, "hello")
			return
		}
		// A stream: one line, then hold until shutdown.
		_, _ = io.WriteString(w, "streaming\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
		handlerDone <- r.Context().Err()
	}))

	var cs shared.ClientStats
	c := shared.NewHTTPClient(&cs)
	defer c.CloseIdleConnections()
	resp, err := c.Get(srv.URL + "/once")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || string(body) != "hello" {
		t.Fatalf("GET /once = %q, %v; want hello", body, err)
	}

	resp, err = c.Get(srv.URL + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || line != "streaming\n" {
		t.Fatalf("stream first line = %q, %v", line, err)
	}
	shutdown() // as SIGINT does: the handler's context ends
	select {
	case err := <-handlerDone:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("handler context ended with %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("handler still running after shutdown")
	}
	// Checked only now: a client can read bytes before the server's Write returns
	// and counts them, but the stream handler flushed before it waited, and
	// the kept-alive connection served /once before /stream.
	if stats.Bytes.Load() == 0 {
		t.Error("Serve did not count the bytes written")
	}
}

func TestDropperDropsConnections(t *testing.T) {
	handlerDone := make(chan struct{}, 2) // one per request
	srv, _ := labtest.Serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() { handlerDone <- struct{}{} }()
		_, _ = io.WriteString(w, "tick\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done() // ends when the client's connection goes away
	}))
	var d labtest.Dropper
	var cs shared.ClientStats
	c := d.Wrap(shared.NewHTTPClient(&cs))
	defer c.CloseIdleConnections()

	resp, err := c.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	if line, err := br.ReadString('\n'); err != nil || line != "tick\n" {
		t.Fatalf("first line = %q, %v", line, err)
	}
	if cs.Bytes.Load() == 0 {
		t.Error("the wrapped client no longer counts bytes read")
	}

	if n := d.DropAll(); n != 1 {
		t.Errorf("DropAll = %d, want 1 connection", n)
	}
	if _, err := br.ReadString('\n'); err == nil {
		t.Error("read after DropAll succeeded, want an error")
	}
	select {
	case <-handlerDone:
	case <-time.After(10 * time.Second):
		t.Fatal("server handler did not see the dropped connection")
	}
	if n := d.DropAll(); n != 0 {
		t.Errorf("second DropAll = %d, want 0", n)
	}

	// The client works again on a new connection.
	resp2, err := c.Get(srv.URL)
	if err != nil {
		t.Fatalf("GET after DropAll: %v", err)
	}
	line, err := bufio.NewReader(resp2.Body).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "tick") {
		t.Errorf("GET after DropAll read %q, %v", line, err)
	}
	if n := d.DropAll(); n != 1 {
		t.Errorf("DropAll of the new connection = %d, want 1", n)
	}
	resp2.Body.Close()
}

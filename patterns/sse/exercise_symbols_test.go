//go:build exercise

package sse

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"commlab/shared"
	"commlab/shared/labtest"
)

// The checker for the coding exercise in exercise_symbols.go. Run it with
//
//	go test -run Exercise ./patterns/sse/ -tags exercise
//
// It runs a real lab and reads real event streams over loopback.

var wantSymbols = []string{"ACME", "HOOLI"}

// TestExerciseSymbolsFilter: ?symbols=ACME,HOOLI sends only those symbols'
// ticks, held and live, with the feed's seqs as ids; a reconnect with
// Last-Event-ID resumes after the last one.
func TestExerciseSymbolsFilter(t *testing.T) {
	lab, _, srv, _ := start(t, nil, nil)
	held := lab.Publish(t, 40)
	if len(only(held, wantSymbols)) == 0 || len(only(held, wantSymbols)) == len(held) {
		t.Fatalf("the feed's first 40 ticks should mix ACME and HOOLI with other symbols; got %v", symbolsOf(held))
	}
	url := srv.URL + "/api/sse?symbols=" + strings.Join(wantSymbols, ",") + "&since=0"

	// First connect: the held ticks, then live ones.
	rd := newEventReader(get(t, url, nil).Body)
	readOnly(t, rd, only(held, wantSymbols), "the held ticks, after since=0")
	live := lab.Publish(t, 40)
	got := readOnly(t, rd, only(live, wantSymbols), "the live ticks")
	last := got[len(got)-1]

	// The client goes away; the feed goes on; the client comes back with the
	// id of the last event it got, to the same URL, as a browser does.
	missed := lab.Publish(t, 40)
	h := http.Header{}
	h.Set("Last-Event-ID", last)
	resumed := newEventReader(get(t, url, h).Body)
	readOnly(t, resumed, only(missed, wantSymbols), "after a reconnect with Last-Event-ID: "+last)
}

// TestExerciseSymbolsBadList: a symbols list that cannot be served gets a 400
// with the contract's {"error": "..."}, counted as bad input with reason
// "symbols", like a bad since or Last-Event-ID.
func TestExerciseSymbolsBadList(t *testing.T) {
	lab, _, srv, _ := start(t, nil, nil)
	cases := []struct{ name, query, why string }{
		{"empty", "symbols=", "an empty list asks for nothing"},
		{"unknown", "symbols=NOPE", "the feed has no symbol NOPE"},
		{"one unknown", "symbols=ACME,NOPE", "one unknown symbol spoils the list"},
		{"lower case", "symbols=acme", "symbols are upper case, as the feed spells them"},
		{"empty item", "symbols=ACME,,HOOLI", "an empty item is a malformed list"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := get(t, srv.URL+"/api/sse?"+tc.query, nil)
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("GET /api/sse?%s: got status %d, want 400: %s, and the server must say so (parseSymbols returns no error yet)", tc.query, resp.StatusCode, tc.why)
			}
			var body struct {
				Error string `json:"error"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Error == "" {
				t.Errorf(`GET /api/sse?%s: got a 400 without {"error": "..."} (decode: %v): return an error, ServeHTTP writes it`, tc.query, err)
			}
		})
	}
	if got, want := labtest.BadInput(t, lab.Metrics.Registry, "sse", "symbols"), float64(len(cases)); got != want {
		t.Errorf(`got commlab_bad_input_total{pattern="sse",reason="symbols"} %v, want %v: every bad list is counted`, got, want)
	}
}

// readOnly reads one event per tick in want and checks it is that tick. It
// returns the ids read.
func readOnly(t *testing.T, rd *eventReader, want []shared.Tick, what string) (ids []string) {
	t.Helper()
	for _, w := range want {
		ev := nextEvent(t, rd)
		id := strconv.FormatUint(w.Seq, 10)
		if ev.Type == "tick" && ev.ID == id && string(ev.Data) == string(w.Raw) {
			ids = append(ids, ev.ID)
			continue
		}
		if tick, err := shared.ParseTick(ev.Data); err == nil && !slices.Contains(wantSymbols, tick.Symbol) {
			t.Fatalf("%s: got a %s tick (id %s), want only %s ticks: ?symbols= does not filter the stream yet",
				what, tick.Symbol, ev.ID, strings.Join(wantSymbols, " and "))
		}
		t.Fatalf("%s: got event %s id %s data %s, want the %s tick with id %s (the feed's seq) and data %s",
			what, ev.Type, ev.ID, ev.Data, w.Symbol, id, w.Raw)
	}
	return ids
}

// only returns the ticks of the given symbols, in order.
func only(ticks []shared.Tick, symbols []string) []shared.Tick {
	var out []shared.Tick
	for _, t := range ticks {
		if slices.Contains(symbols, t.Symbol) {
			out = append(out, t)
		}
	}
	return out
}

func symbolsOf(ticks []shared.Tick) string {
	var s []string
	for _, t := range ticks {
		s = append(s, fmt.Sprintf("%d:%s", t.Seq, t.Symbol))
	}
	return strings.Join(s, " ")
}

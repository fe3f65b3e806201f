package bench

import (
	"bytes"
	"encoding/json"
	"testing"
)

// With --max-clients, --json still gives each pattern the contract's fields:
// those of the largest round that passed, with the search's own beside them.
func TestSearchJSONKeepsTheContractFields(t *testing.T) {
	s := SearchResult{
		Pattern: "ws", SLOP99Ms: 50, MaxClients: 200, FirstFail: 400, FailedWhy: "p99 80.0 ms > 50 ms", Limit: 1000,
		Steps: []Result{
			{Pattern: "ws", Clients: 100, P99Ms: 3},
			{Pattern: "ws", Clients: 200, P99Ms: 9},
			{Pattern: "ws", Clients: 400, P99Ms: 80},
		},
	}
	var out bytes.Buffer
	rep := &Report{Options: Options{Search: &Search{}}, Searches: []SearchResult{s}}
	if err := rep.WriteJSON(&out); err != nil {
		t.Fatal(err)
	}
	var line map[string]any
	if err := json.Unmarshal(out.Bytes(), &line); err != nil {
		t.Fatalf("%v: %s", err, out.Bytes())
	}
	for _, field := range []string{"pattern", "clients", "duration_s", "delivered", "expected", "gaps", "dups",
		"msgs_per_s", "p50_ms", "p99_ms", "max_ms", "bytes_per_tick", "requests", "max_clients", "steps"} {
		if _, ok := line[field]; !ok {
			t.Errorf("no %q in %s", field, out.Bytes())
		}
	}
	if line["clients"] != 200.0 || line["p99_ms"] != 9.0 || line["max_clients"] != 200.0 {
		t.Errorf("got clients %v, p99 %v, max_clients %v: want the passing round of 200", line["clients"], line["p99_ms"], line["max_clients"])
	}
}

package bench

import (
	"strings"
	"testing"
	"time"
)

// A lab's feed that fell behind the rate bench gave it says so in the note:
// every latency of that round includes the backlog.
func TestResultsNoteAFeedBehindItsRate(t *testing.T) {
	for _, tt := range []struct {
		name   string
		window uint64 // ticks in a 10 s window
		url    string
		note   bool
	}{
		{"at its rate", 1000, "", false},
		{"within 5% of it", 960, "", false},
		{"behind", 700, "", true},
		{"another server's own rate", 700, "http://127.0.0.1:9000", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := &round{
				o:      &Options{Rate: 100, URL: tt.url},
				groups: []*group{{pattern: "ws", load: Loader{FanOut: true}, lat: newLatencies(1)}},
			}
			res := r.results(measured{from: 0, to: tt.window, elapsed: 10 * time.Second, drained: true}, nil)
			got := strings.Contains(res[0].Note, "the feed held")
			if got != tt.note {
				t.Errorf("note %q: a note on the feed's rate %v, want %v", res[0].Note, got, tt.note)
			}
		})
	}
}

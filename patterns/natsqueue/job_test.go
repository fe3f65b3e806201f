package natsqueue

import (
	"testing"
	"time"

	"commlab/shared"
)

// TestJobIdempotent checks that a redelivered or late tick changes nothing,
// and that a restarted feed's ticks start the candle afresh.
func TestJobIdempotent(t *testing.T) {
	tick := func(seq uint64, price float64) shared.Tick {
		return shared.Tick{Seq: seq, Symbol: "ACME", Price: price, TUs: 1}
	}
	j := newJob(0)
	for _, step := range []struct {
		t     shared.Tick
		epoch string
	}{
		{tick(10, 100), "a"},
		{tick(12, 110), "a"},
		{tick(12, 110), "a"}, // redelivered: a duplicate
		{tick(11, 90), "a"},  // redelivered out of order: older than what was applied
		{tick(13, 105), "a"},
	} {
		j.update(step.t, step.epoch)
	}
	c := j.candles["ACME"]
	if c.count != 3 || c.open != 100 || c.high != 110 || c.low != 100 || c.close != 105 || c.lastSeq != 13 {
		t.Errorf("got candle %+v, want 3 ticks: open 100, high 110, low 100, close 105, last seq 13", *c)
	}
	j.update(tick(1, 50), "b") // the feed restarted: seq 1 of a new epoch
	if c := j.candles["ACME"]; c.count != 1 || c.close != 50 || c.epoch != "b" {
		t.Errorf("got candle %+v after a new epoch, want it started afresh at 50", *c)
	}
}

// TestJobRunAbandoned checks that a killed worker's job leaves no trace.
func TestJobRunAbandoned(t *testing.T) {
	j := newJob(time.Hour)
	quit := make(chan struct{})
	close(quit)
	if j.run(shared.Tick{Seq: 1, Symbol: "ACME", Price: 1}, "a", quit) {
		t.Error("got true from a job whose worker was killed, want false")
	}
	if len(j.candles) != 0 {
		t.Errorf("got %d candles, want none: an abandoned job changes nothing", len(j.candles))
	}
}

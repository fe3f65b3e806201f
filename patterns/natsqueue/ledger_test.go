package natsqueue

import (
	"testing"
	"time"
)

// TestCoreLedger walks the core ledger through each way a tick can go.
func TestCoreLedger(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	margin := 100 * time.Millisecond
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	type step func(l *coreLedger)
	audit := func(seq uint64, d time.Duration) step { return func(l *coreLedger) { l.audit(seq, at(d)) } }
	finish := func(seq uint64, d time.Duration) step { return func(l *coreLedger) { l.finish(seq, at(d)) } }
	settle := func(d time.Duration, watermark uint64) step {
		return func(l *coreLedger) { l.settle(at(d), watermark) }
	}

	tests := []struct {
		name          string
		steps         []step
		lostByWorkers uint64 // what the pool's workers counted as lost (held when killed, dropped)
		want          CoreTotals
	}{
		{"processed", []step{audit(1, 0), finish(1, 5*time.Millisecond), settle(time.Second, noWatermark)},
			0, CoreTotals{Published: 1, Processed: 1}},
		{"a worker quicker than the auditor", []step{finish(1, 0), audit(1, time.Millisecond), settle(time.Second, noWatermark)},
			0, CoreTotals{Published: 1, Processed: 1}},
		{"in flight within the margin", []step{audit(1, 0), settle(margin/2, noWatermark)},
			0, CoreTotals{Published: 1, InFlight: 1}},
		{"gone once no live worker can hold it", []step{audit(1, 0), settle(margin, noWatermark)},
			0, CoreTotals{Published: 1, Unknown: 1}},
		{"gone, and a killed worker held it: lost", []step{audit(1, 0), settle(margin, noWatermark)},
			1, CoreTotals{Published: 1, Lost: 1}},
		{"a kill not settled yet: in flight, not lost", []step{audit(1, 0), settle(margin/2, noWatermark)},
			1, CoreTotals{Published: 1, InFlight: 1}},
		{"gone elsewhere beside a kill", []step{audit(1, 0), audit(2, 0), audit(3, 0), settle(margin, noWatermark)},
			1, CoreTotals{Published: 3, Lost: 1, Unknown: 2}},
		{"a busy worker may still hold it", []step{audit(5, 0), settle(time.Hour, 5)},
			0, CoreTotals{Published: 1, InFlight: 1}},
		{"a busy worker past it does not", []step{audit(5, 0), settle(time.Hour, 6)},
			0, CoreTotals{Published: 1, Unknown: 1}},
		{"finished after all: moved back from gone", []step{audit(1, 0), settle(margin, noWatermark), finish(1, time.Second)},
			0, CoreTotals{Published: 1, Processed: 1, Late: 1}},
		{"finished twice", []step{audit(1, 0), finish(1, 0), finish(1, 0)},
			0, CoreTotals{Published: 1, Processed: 1, Duplicates: 1}},
		{"not a tick", []step{func(l *coreLedger) { l.auditInvalid() }},
			0, CoreTotals{Invalid: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := newCoreLedger(margin)
			l.begin(t0)
			for _, s := range tc.steps {
				s(l)
			}
			if got := l.totals(tc.lostByWorkers); got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestCoreLedgerBegin checks that ticks from before every worker had joined
// are left out of the account, and that later ones seen early are not.
func TestCoreLedgerBegin(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	l := newCoreLedger(time.Millisecond)
	l.audit(1, t0)  // found no worker: not counted as gone
	l.audit(2, t0)  // processed, but published before the account began
	l.finish(2, t0) //
	l.finish(3, t0) // finished before the auditor saw it, and before begin
	l.begin(t0)
	l.audit(3, t0)
	l.finish(2, t0) // a second report of an early tick changes nothing
	l.audit(4, t0)  // gone after begin
	l.settle(t0.Add(time.Second), noWatermark)
	if got, want := l.totals(0), (CoreTotals{Published: 2, Processed: 1, Unknown: 1}); got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

// TestRecentSetForgets checks that the ledgers' memory stays bounded.
func TestRecentSetForgets(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	s := newRecentSet(time.Second)
	for i := range uint64(100) {
		s.add(i, t0.Add(time.Duration(i)*100*time.Millisecond))
	}
	// At 9.9 s, only what was added in the last second is remembered.
	if s.has(88) || !s.has(89) || !s.has(99) {
		t.Errorf("got has(88) %v, has(89) %v, has(99) %v; want false, true, true", s.has(88), s.has(89), s.has(99))
	}
	if len(s.at) != 11 || len(s.order) != 11 {
		t.Errorf("got %d entries (%d in order), want 11", len(s.at), len(s.order))
	}
}

func TestParseCommand(t *testing.T) {
	for _, tc := range []struct {
		line string
		cmd  string
		n    int
	}{{"k", "k", 1}, {"k2", "k", 2}, {"k 3", "k", 3}, {"r", "r", 1}, {"q", "q", 1}, {"", "", 0}, {"kx", "kx", 0}, {"k0", "k0", 0}} {
		if cmd, n := parseCommand(tc.line); cmd != tc.cmd || n != tc.n {
			t.Errorf("parseCommand(%q) = %q, %d; want %q, %d", tc.line, cmd, n, tc.cmd, tc.n)
		}
	}
}

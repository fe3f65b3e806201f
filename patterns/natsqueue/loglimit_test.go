package natsqueue

import (
	"testing"
	"time"
)

// A slow core worker's reports come in floods; one line per interval gets
// through, and says how many were held back.
func TestLogLimit(t *testing.T) {
	var l logLimit
	t0 := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	steps := []struct {
		at       time.Duration
		wantOK   bool
		wantHeld int
	}{
		{0, true, 0},
		{time.Second, false, 0},
		{9 * time.Second, false, 0},
		{10 * time.Second, true, 2},
		{11 * time.Second, false, 0},
		{30 * time.Second, true, 1},
	}
	for _, s := range steps {
		held, ok := l.allow(t0.Add(s.at), 10*time.Second)
		if ok != s.wantOK || held != s.wantHeld {
			t.Errorf("at +%v: allow = (%d, %v), want (%d, %v)", s.at, held, ok, s.wantHeld, s.wantOK)
		}
	}
}

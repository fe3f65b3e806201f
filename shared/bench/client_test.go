package bench

import "testing"

// The accounts are only as exact as the set that keeps them.
func TestSeqSet(t *testing.T) {
	var s seqSet
	for _, seq := range []uint64{130, 131, 200, 131, 64, 63, 1} { // 64, 63 and 1: before the first, a resync
		s.add(seq)
	}
	tests := []struct {
		from, to      uint64
		count, dupsIn uint64
	}{
		{0, 1000, 6, 1},
		{130, 200, 2, 1}, // (130, 200]: 131 and 200
		{131, 199, 0, 0},
		{0, 63, 2, 0},
		{62, 64, 2, 0},
	}
	for _, tt := range tests {
		if got := s.count(tt.from, tt.to); got != tt.count {
			t.Errorf("count(%d, %d) = %d, want %d", tt.from, tt.to, got, tt.count)
		}
		if got := s.dupsIn(tt.from, tt.to); got != tt.dupsIn {
			t.Errorf("dupsIn(%d, %d) = %d, want %d", tt.from, tt.to, got, tt.dupsIn)
		}
	}
	union := make([]uint64, 4) // (0, 256]
	s.union(union, 0, 256)
	var other seqSet
	other.add(2)
	other.add(130)
	other.union(union, 0, 256)
	if got := popcount(union); got != 7 { // 1, 2, 63, 64, 130, 131, 200
		t.Errorf("union holds %d seqs, want 7", got)
	}
}

package shared

import (
	"math/rand/v2"
	"time"
)

// DefaultSymbols are the feed's tickers: upper-case ASCII, at most 8 characters.
var DefaultSymbols = []string{"ACME", "GLOBX", "INITECH", "UMBRL", "STARK", "WAYNE", "HOOLI", "TYRELL"}

// Walk is the feed's price model: a deterministic random walk. The same seed and
// symbols give the same sequence of (symbol, price) pairs, so examples and tests can
// print fixed output; only t_us, the wall-clock time, differs between runs.
type Walk struct {
	rng     *rand.Rand
	symbols []string
	prices  []float64
	seq     uint64
}

// NewWalk starts a walk whose first tick gets seq first.
func NewWalk(seed uint64, symbols []string, first uint64) *Walk {
	w := &Walk{
		rng:     rand.New(rand.NewPCG(seed, 0x636f6d6d6c6162)), // "commlab"
		symbols: symbols,
		prices:  make([]float64, len(symbols)),
		seq:     first,
	}
	for i := range w.prices {
		w.prices[i] = RoundPrice(20 + w.rng.Float64()*180)
	}
	return w
}

// Next returns the next tick, stamped with now and encoded.
func (w *Walk) Next(now time.Time) Tick {
	i := w.rng.IntN(len(w.symbols))
	// A step of up to ±0.5% keeps prices positive and moving visibly.
	step := 1 + (w.rng.Float64()-0.5)*0.01
	w.prices[i] = max(RoundPrice(w.prices[i]*step), 0.0001)
	t := Tick{Seq: w.seq, Symbol: w.symbols[i], Price: w.prices[i], TUs: now.UnixMicro()}
	w.seq++
	t.Encode()
	return t
}

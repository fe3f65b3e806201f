package shared_test

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"commlab/shared"
)

type symbolPrice struct {
	Symbol string
	Price  float64
}

func walkPairs(seed uint64, n int) []symbolPrice {
	w := shared.NewWalk(seed, shared.DefaultSymbols, 1)
	out := make([]symbolPrice, n)
	for i := range out {
		t := w.Next(time.Now())
		out[i] = symbolPrice{t.Symbol, t.Price}
	}
	return out
}

func TestWalkSameSeedSameSequence(t *testing.T) {
	a, b := walkPairs(42, 1000), walkPairs(42, 1000)
	if i := firstDiff(a, b); i >= 0 {
		t.Fatalf("seed 42 twice: tick %d is %+v then %+v, want equal", i, a[i], b[i])
	}
}

func TestWalkDifferentSeedDiffers(t *testing.T) {
	a, b := walkPairs(42, 100), walkPairs(43, 100)
	if slices.Equal(a, b) {
		t.Fatalf("seeds 42 and 43 gave the same 100 ticks, want different walks")
	}
}

func firstDiff(a, b []symbolPrice) int {
	for i := range a {
		if a[i] != b[i] {
			return i
		}
	}
	return -1
}

func TestWalkTicks(t *testing.T) {
	const first, n = 1000, 5000
	w := shared.NewWalk(7, shared.DefaultSymbols, first)
	now := time.UnixMicro(1764122400123456)
	seen := make(map[string]bool)
	for i := range uint64(n) {
		tk := w.Next(now)
		if want := first + i; tk.Seq != want {
			t.Fatalf("tick %d: seq %d, want %d (contiguous from %d)", i, tk.Seq, want, first)
		}
		if !(tk.Price > 0) {
			t.Fatalf("seq %d: price %v, want positive", tk.Seq, tk.Price)
		}
		s := strconv.FormatFloat(tk.Price, 'f', -1, 64)
		if _, frac, ok := strings.Cut(s, "."); ok && len(frac) > 4 {
			t.Fatalf("seq %d: price %s has %d decimals, want at most 4", tk.Seq, s, len(frac))
		}
		if !slices.Contains(shared.DefaultSymbols, tk.Symbol) {
			t.Fatalf("seq %d: symbol %q is not one of %v", tk.Seq, tk.Symbol, shared.DefaultSymbols)
		}
		if tk.TUs != now.UnixMicro() {
			t.Fatalf("seq %d: t_us %d, want %d", tk.Seq, tk.TUs, now.UnixMicro())
		}
		if want := string(shared.AppendJSON(nil, tk)); string(tk.Raw) != want {
			t.Fatalf("seq %d: Raw %s, want %s", tk.Seq, tk.Raw, want)
		}
		parsed, err := shared.ParseTick(tk.Raw)
		if err != nil {
			t.Fatalf("seq %d: ParseTick(Raw): %v", tk.Seq, err)
		}
		if !sameFields(parsed, tk) {
			t.Fatalf("seq %d: ParseTick(Raw) = %+v, want %+v", tk.Seq, parsed, tk)
		}
		seen[tk.Symbol] = true
	}
	if len(seen) != len(shared.DefaultSymbols) {
		t.Errorf("%d ticks used %d symbols, want all %d", n, len(seen), len(shared.DefaultSymbols))
	}
}

func TestDefaultSymbolsValid(t *testing.T) {
	for _, s := range shared.DefaultSymbols {
		if !shared.ValidSymbol(s) {
			t.Errorf("DefaultSymbols holds %q, not a valid symbol", s)
		}
	}
}

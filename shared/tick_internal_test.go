package shared

import (
	"bytes"
	"testing"
	"time"
)

// The fast path must read the feed's ticks exactly as encoding/json does, and
// leave everything else to it.
func TestParseCanonicalAgreesWithJSON(t *testing.T) {
	walk := NewWalk(7, DefaultSymbols, 1)
	start := time.UnixMicro(1_764_122_400_000_000)
	for i := range 2000 {
		tick := walk.Next(start.Add(time.Duration(i) * time.Millisecond))
		fast, ok := parseCanonical(tick.Raw)
		if !ok {
			t.Fatalf("parseCanonical refused the feed's own %s", tick.Raw)
		}
		slow, err := parseAny(tick.Raw)
		if err != nil {
			t.Fatal(err)
		}
		if fast.Seq != slow.Seq || fast.Symbol != slow.Symbol || fast.Price != slow.Price || fast.TUs != slow.TUs || !bytes.Equal(fast.Raw, slow.Raw) {
			t.Fatalf("%s: fast %+v, encoding/json %+v", tick.Raw, fast, slow)
		}
	}
	for _, other := range []string{
		`{"seq":1,"symbol":"ACME","price":1.5,"t_us":1 }`,
		`{"symbol":"ACME","seq":1,"price":1.5,"t_us":1}`,
		`{"seq":01,"symbol":"ACME","price":1.5,"t_us":1}`,
		`{"seq":1,"symbol":"ACME","price":1.50,"t_us":1}`,
		`{"seq":0,"symbol":"ACME","price":1.5,"t_us":1}`,
		`{"seq":1,"symbol":"acme","price":1.5,"t_us":1}`,
		`{"seq":1,"symbol":"ACME","price":-1.5,"t_us":1}`,
		`{"seq":1,"symbol":"ACME","price":1.5,"t_us":1,"op":"reset"}`,
	} {
		if _, ok := parseCanonical([]byte(other)); ok {
			t.Errorf("parseCanonical took %s, which is not how the feed writes a tick", other)
		}
	}
}

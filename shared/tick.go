// Package shared holds what every pattern in commlab needs: the tick, the ticker
// feed, the embedded NATS broker, the gateway with its history ring and fan-out hub,
// the metrics, and the small helpers the pattern clients share.
package shared

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
)

// Tick is one price update of the feed. Raw holds the tick's JSON exactly as it
// crosses the wire: the feed encodes a tick once and every pattern sends those
// same bytes, so clients of different patterns can compare what they got byte for byte.
type Tick struct {
	Seq    uint64  `json:"seq"`
	Symbol string  `json:"symbol"`
	Price  float64 `json:"price"`
	TUs    int64   `json:"t_us"`

	Raw []byte `json:"-"`
}

// AppendJSON appends the tick's canonical JSON encoding to dst:
//
//	{"seq":1042,"symbol":"ACME","price":101.37,"t_us":1764122400123456}
//
// It is written by hand so the field order and number formats are fixed by this
// function alone, and so encoding costs no allocation beyond dst's growth.
func AppendJSON(dst []byte, t Tick) []byte {
	dst = append(dst, `{"seq":`...)
	dst = strconv.AppendUint(dst, t.Seq, 10)
	dst = append(dst, `,"symbol":"`...)
	dst = append(dst, t.Symbol...) // validated upper-case ASCII: nothing to escape
	dst = append(dst, `","price":`...)
	dst = strconv.AppendFloat(dst, t.Price, 'f', -1, 64)
	dst = append(dst, `,"t_us":`...)
	dst = strconv.AppendInt(dst, t.TUs, 10)
	return append(dst, '}')
}

// Encode fills t.Raw with the tick's JSON. The feed calls it once per tick.
func (t *Tick) Encode() {
	t.Raw = AppendJSON(make([]byte, 0, 96), *t)
}

// RoundPrice rounds a price to the 4 decimals the contract allows.
func RoundPrice(p float64) float64 { return math.Round(p*1e4) / 1e4 }

// ParseTick decodes and validates one tick. The returned tick keeps its own copy of
// b in Raw. A payload that is not a valid tick (for instance a control message with
// an "op" field) is an error.
func ParseTick(b []byte) (Tick, error) {
	if t, ok := parseCanonical(b); ok {
		return t, nil
	}
	return parseAny(b)
}

// parseAny decodes any JSON spelling of a tick with encoding/json, and says
// what is wrong with one that is not a valid tick.
func parseAny(b []byte) (Tick, error) {
	var wire struct {
		Seq    *uint64         `json:"seq"`
		Symbol *string         `json:"symbol"`
		Price  *float64        `json:"price"`
		TUs    *int64          `json:"t_us"`
		Op     json.RawMessage `json:"op"` // set even by "op":null
	}
	if err := json.Unmarshal(b, &wire); err != nil {
		return Tick{}, fmt.Errorf("tick: %w", err)
	}
	switch {
	case wire.Op != nil:
		return Tick{}, fmt.Errorf("tick: control message (op %s), not a tick", wire.Op)
	case wire.Seq == nil || wire.Symbol == nil || wire.Price == nil || wire.TUs == nil:
		return Tick{}, errors.New("tick: missing field (want seq, symbol, price, t_us)")
	case *wire.Seq == 0:
		return Tick{}, errors.New("tick: seq must start at 1")
	case !ValidSymbol(*wire.Symbol):
		return Tick{}, fmt.Errorf("tick: invalid symbol %q", *wire.Symbol)
	case !(*wire.Price > 0):
		return Tick{}, fmt.Errorf("tick: price %v is not positive", *wire.Price)
	}
	t := Tick{Seq: *wire.Seq, Symbol: *wire.Symbol, Price: *wire.Price, TUs: *wire.TUs}
	// encoding/json matches keys case-insensitively ("SEQ" fills Seq), but a
	// browser reading tick.seq does not. The feed's own ticks are canonical and
	// pass the cheap check; anything else must at least spell the keys exactly.
	var canonical [128]byte
	if !bytes.Equal(AppendJSON(canonical[:0], t), b) {
		if err := exactKeys(b); err != nil {
			return Tick{}, err
		}
	}
	t.Raw = append([]byte(nil), b...)
	return t, nil
}

// parseCanonical reads a tick in the feed's own encoding, the one AppendJSON
// writes, without encoding/json: every client of every pattern parses every
// tick, and this is several times cheaper. Anything else (other key order,
// spacing, a control message, an invalid value) is not ok, and ParseTick
// takes the general path, which validates and explains.
func parseCanonical(b []byte) (Tick, bool) {
	rest, ok := bytes.CutPrefix(b, []byte(`{"seq":`))
	seq, rest, ok1 := bytes.Cut(rest, []byte(`,"symbol":"`))
	symbol, rest, ok2 := bytes.Cut(rest, []byte(`","price":`))
	price, rest, ok3 := bytes.Cut(rest, []byte(`,"t_us":`))
	tus, ok4 := bytes.CutSuffix(rest, []byte(`}`))
	if !ok || !ok1 || !ok2 || !ok3 || !ok4 {
		return Tick{}, false
	}
	var t Tick
	var err1, err2, err3 error
	t.Seq, err1 = strconv.ParseUint(string(seq), 10, 64)
	t.Price, err2 = strconv.ParseFloat(string(price), 64)
	t.TUs, err3 = strconv.ParseInt(string(tus), 10, 64)
	t.Symbol = string(symbol)
	if err1 != nil || err2 != nil || err3 != nil || t.Seq == 0 || !ValidSymbol(t.Symbol) || !(t.Price > 0) {
		return Tick{}, false
	}
	// Only the exact bytes AppendJSON would write count as canonical ("007",
	// "1e2" and the like parse, but are not how the feed writes them).
	var canonical [128]byte
	if !bytes.Equal(AppendJSON(canonical[:0], t), b) {
		return Tick{}, false
	}
	t.Raw = append([]byte(nil), b...)
	return t, true
}

func exactKeys(b []byte) error {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return fmt.Errorf("tick: %w", err)
	}
	for _, key := range []string{"seq", "symbol", "price", "t_us"} {
		if _, ok := fields[key]; !ok {
			return fmt.Errorf("tick: no key %q (keys are case-sensitive)", key)
		}
	}
	return nil
}

// ValidSymbol reports whether s is 1 to 8 upper-case ASCII letters.
func ValidSymbol(s string) bool {
	if len(s) < 1 || len(s) > 8 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

// Control is a message that is not a tick: a WebSocket frame or SSE event whose
// JSON carries an "op". Ticks never carry one.
type Control struct {
	Op    string `json:"op"`
	Epoch string `json:"epoch"`
	Next  uint64 `json:"next"`
}

// OpReset is sent when the server cannot continue a client's sequence: the ticks
// after the client's since are gone, or the feed restarted under a new epoch. The
// stream goes on with ticks whose seq is greater than Control.Next.
const OpReset = "reset"

package shared_test

import (
	"encoding/json"
	"strings"
	"testing"

	"commlab/shared"
)

func TestAppendJSON(t *testing.T) {
	tests := []struct {
		name string
		tick shared.Tick
		want string
	}{
		{"contract example", shared.Tick{Seq: 1042, Symbol: "ACME", Price: 101.37, TUs: 1764122400123456},
			`{"seq":1042,"symbol":"ACME","price":101.37,"t_us":1764122400123456}`},
		{"smallest price", shared.Tick{Seq: 1, Symbol: "A", Price: 0.0001, TUs: 1},
			`{"seq":1,"symbol":"A","price":0.0001,"t_us":1}`},
		{"whole price", shared.Tick{Seq: 2, Symbol: "GLOBX", Price: 150, TUs: 2},
			`{"seq":2,"symbol":"GLOBX","price":150,"t_us":2}`},
		{"four decimals", shared.Tick{Seq: 3, Symbol: "TYRELL", Price: 99.9999, TUs: 3},
			`{"seq":3,"symbol":"TYRELL","price":99.9999,"t_us":3}`},
		{"one decimal", shared.Tick{Seq: 4, Symbol: "HOOLI", Price: 12.5, TUs: 4},
			`{"seq":4,"symbol":"HOOLI","price":12.5,"t_us":4}`},
		{"large price", shared.Tick{Seq: 5, Symbol: "WAYNE", Price: 123456789.1234, TUs: 5},
			`{"seq":5,"symbol":"WAYNE","price":123456789.1234,"t_us":5}`},
		{"largest seq, JS-safe t_us", shared.Tick{Seq: 1<<64 - 1, Symbol: "ABCDEFGH", Price: 1, TUs: 1<<53 - 1},
			`{"seq":18446744073709551615,"symbol":"ABCDEFGH","price":1,"t_us":9007199254740991}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := shared.AppendJSON(nil, tt.tick)
			if string(got) != tt.want {
				t.Fatalf("AppendJSON = %s, want %s", got, tt.want)
			}

			// encoding/json agrees byte for byte: same field order, same numbers.
			std, err := json.Marshal(tt.tick)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(std) {
				t.Errorf("AppendJSON = %s, encoding/json = %s", got, std)
			}

			var back shared.Tick
			if err := json.Unmarshal(got, &back); err != nil {
				t.Fatalf("json.Unmarshal(%s): %v", got, err)
			}
			if !sameFields(back, tt.tick) {
				t.Errorf("round trip: got %+v, want %+v", back, tt.tick)
			}
		})
	}
}

func TestAppendJSONAppends(t *testing.T) {
	prefix := []byte("data: ")
	got := shared.AppendJSON(prefix, shared.Tick{Seq: 1, Symbol: "ACME", Price: 1, TUs: 1})
	if want := `data: {"seq":1,"symbol":"ACME","price":1,"t_us":1}`; string(got) != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestEncode(t *testing.T) {
	tk := shared.Tick{Seq: 7, Symbol: "UMBRL", Price: 42.42, TUs: 99}
	tk.Encode()
	if want := string(shared.AppendJSON(nil, tk)); string(tk.Raw) != want {
		t.Errorf("Raw = %s, want %s", tk.Raw, want)
	}
}

func TestRoundPrice(t *testing.T) {
	tests := []struct{ in, want float64 }{
		{101.37, 101.37},
		{101.123449, 101.1234},
		{101.12345, 101.1235},
		{0.00004, 0},
		{0.00005, 0.0001},
		{150, 150},
	}
	for _, tt := range tests {
		if got := shared.RoundPrice(tt.in); got != tt.want {
			t.Errorf("RoundPrice(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestParseTick(t *testing.T) {
	valid := `{"seq":1042,"symbol":"ACME","price":101.37,"t_us":1764122400123456}`
	got, err := shared.ParseTick([]byte(valid))
	if err != nil {
		t.Fatalf("ParseTick(%s): %v", valid, err)
	}
	want := shared.Tick{Seq: 1042, Symbol: "ACME", Price: 101.37, TUs: 1764122400123456}
	if !sameFields(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if string(got.Raw) != valid {
		t.Errorf("Raw = %s, want %s", got.Raw, valid)
	}
}

func TestParseTickRawIsACopy(t *testing.T) {
	b := []byte(`{"seq":1,"symbol":"ACME","price":1,"t_us":1}`)
	want := string(b)
	tk, err := shared.ParseTick(b)
	if err != nil {
		t.Fatal(err)
	}
	// NATS reuses its read buffer; a tick must not change when the buffer does.
	for i := range b {
		b[i] = 'x'
	}
	if string(tk.Raw) != want {
		t.Errorf("Raw after the input changed = %s, want %s", tk.Raw, want)
	}
}

func TestParseTickRejects(t *testing.T) {
	tests := []struct {
		name, in, wantErr string
	}{
		{"invalid JSON", `{"seq":1,`, "tick:"},
		{"not an object", `[1,2]`, "tick:"},
		{"empty", ``, "tick:"},
		{"null", `null`, "missing field"},
		{"missing seq", `{"symbol":"ACME","price":1,"t_us":1}`, "missing field"},
		{"missing symbol", `{"seq":1,"price":1,"t_us":1}`, "missing field"},
		{"missing price", `{"seq":1,"symbol":"ACME","t_us":1}`, "missing field"},
		{"missing t_us", `{"seq":1,"symbol":"ACME","price":1}`, "missing field"},
		{"seq 0", `{"seq":0,"symbol":"ACME","price":1,"t_us":1}`, "seq must start at 1"},
		{"negative seq", `{"seq":-1,"symbol":"ACME","price":1,"t_us":1}`, "tick:"},
		{"fractional seq", `{"seq":1.5,"symbol":"ACME","price":1,"t_us":1}`, "tick:"},
		{"seq as string", `{"seq":"1","symbol":"ACME","price":1,"t_us":1}`, "tick:"},
		{"empty symbol", `{"seq":1,"symbol":"","price":1,"t_us":1}`, "invalid symbol"},
		{"lower-case symbol", `{"seq":1,"symbol":"acme","price":1,"t_us":1}`, "invalid symbol"},
		{"symbol over 8 chars", `{"seq":1,"symbol":"ABCDEFGHI","price":1,"t_us":1}`, "invalid symbol"},
		{"symbol with digit", `{"seq":1,"symbol":"AC1","price":1,"t_us":1}`, "invalid symbol"},
		{"symbol with quote", `{"seq":1,"symbol":"A\"B","price":1,"t_us":1}`, "invalid symbol"},
		{"non-ASCII symbol", `{"seq":1,"symbol":"ÄCME","price":1,"t_us":1}`, "invalid symbol"},
		{"zero price", `{"seq":1,"symbol":"ACME","price":0,"t_us":1}`, "not positive"},
		{"negative price", `{"seq":1,"symbol":"ACME","price":-1.5,"t_us":1}`, "not positive"},
		{"price as string", `{"seq":1,"symbol":"ACME","price":"1","t_us":1}`, "tick:"},
		{"control message", `{"op":"reset","epoch":"abc","next":5}`, "control message"},
		{"tick fields with op", `{"seq":1,"symbol":"ACME","price":1,"t_us":1,"op":"reset"}`, "control message"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := shared.ParseTick([]byte(tt.in))
			if err == nil {
				t.Fatalf("ParseTick(%s) = %+v, want an error containing %q", tt.in, got, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseTick(%s) error = %q, want it to contain %q", tt.in, err, tt.wantErr)
			}
		})
	}
}

// encoding/json matches keys case-insensitively and treats "op":null as
// absent; ParseTick must not, because the gateway forwards Raw verbatim to
// every client, and a JavaScript client reading tick.seq would get undefined.
func TestParseTickRejectsKeysClientsCannotRead(t *testing.T) {
	tests := []struct{ name, in string }{
		{"upper-case keys", `{"SEQ":1,"Symbol":"ACME","PRICE":1,"T_US":1}`},
		{"op null", `{"seq":1,"symbol":"ACME","price":1,"t_us":1,"op":null}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := shared.ParseTick([]byte(tt.in)); err == nil {
				t.Errorf("ParseTick(%s) accepted it as seq %d; want an error: its Raw is not a contract tick", tt.in, got.Seq)
			}
		})
	}
}

func TestValidSymbol(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"A", true}, {"ACME", true}, {"ABCDEFGH", true},
		{"", false}, {"ABCDEFGHI", false}, {"acme", false}, {"AC-ME", false}, {"AC ME", false}, {"Ä", false},
	}
	for _, tt := range tests {
		if got := shared.ValidSymbol(tt.in); got != tt.want {
			t.Errorf("ValidSymbol(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestControlJSON(t *testing.T) {
	b, err := json.Marshal(shared.Control{Op: shared.OpReset, Epoch: "abc", Next: 5})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"op":"reset","epoch":"abc","next":5}`; string(b) != want {
		t.Errorf("got %s, want %s", b, want)
	}
	if _, err := shared.ParseTick(b); err == nil {
		t.Errorf("ParseTick(%s) = nil error, want a control message error", b)
	}
}

// sameFields compares the fields a tick's JSON carries, ignoring Raw.
func sameFields(a, b shared.Tick) bool {
	return a.Seq == b.Seq && a.Symbol == b.Symbol && a.Price == b.Price && a.TUs == b.TUs
}

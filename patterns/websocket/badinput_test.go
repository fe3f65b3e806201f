package websocket_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	ws "github.com/coder/websocket"

	"commlab/patterns/websocket"
	"commlab/shared"
	"commlab/shared/labtest"
)

// TestBadInputIsRefusedAndCounted sends every kind of bad input while another
// client streams, and checks each is refused as the contract says, counted in
// the stats and in /metrics, and harms no one else.
func TestBadInputIsRefusedAndCounted(t *testing.T) {
	f := start(t, &websocket.Options{OriginPatterns: []string{"trusted.example"}}, nil)
	first := f.lab.Publish(t, 1)[0]
	bystanderStats := new(shared.ClientStats)
	bystander, _ := subscribe(t, f.srv.URL, &websocket.ClientOptions{Since: first.Seq, Stats: bystanderStats})
	host := strings.TrimPrefix(f.srv.URL, "http://")

	// counted checks that reason was counted exactly once more than before, in
	// the stats and in /metrics. Over the read limit the library closes the
	// connection before the server counts, so the count may trail what the
	// client sees by a moment.
	counted := func(t *testing.T, reason string, do func()) {
		t.Helper()
		bad, metric := f.stats.BadInput.Load(), labtest.BadInput(t, f.lab.Metrics.Registry, "ws", reason)
		do()
		if reason == "" {
			if got := f.stats.BadInput.Load(); got != bad {
				t.Errorf("BadInput went from %d to %d for good input", bad, got)
			}
			return
		}
		labtest.WaitFor(t, "BadInput and /metrics to count "+reason, func() bool {
			return f.stats.BadInput.Load() == bad+1 && labtest.BadInput(t, f.lab.Metrics.Registry, "ws", reason) == metric+1
		})
	}

	handshakes := []struct {
		name       string
		query      string
		origin     string
		wantStatus int
		reason     string // counted; "" for none
	}{
		{"since not a number", "?since=abc", "", http.StatusBadRequest, "since"},
		{"since negative", "?since=-1", "", http.StatusBadRequest, "since"},
		{"query badly encoded", "?since=%zz", "", http.StatusBadRequest, "query"},
		{"another pair badly encoded", "?since=1&x=%zz", "", http.StatusBadRequest, "query"},
		{"cross-site origin", "", "http://evil.example", http.StatusForbidden, "origin"},
		{"origin in OriginPatterns", "", "http://trusted.example", http.StatusSwitchingProtocols, ""},
		{"same origin", "", "http://" + host, http.StatusSwitchingProtocols, ""},
		{"no origin", "?since=" + strconv.FormatUint(first.Seq, 10), "", http.StatusSwitchingProtocols, ""},
	}
	for _, tt := range handshakes {
		t.Run(tt.name, func(t *testing.T) {
			counted(t, tt.reason, func() {
				h := http.Header{}
				if tt.origin != "" {
					h.Set("Origin", tt.origin)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				c, resp, err := ws.Dial(ctx, f.wsURL(tt.query), &ws.DialOptions{HTTPClient: newHTTPClient(t), HTTPHeader: h})
				if c != nil {
					defer c.CloseNow()
				}
				if resp == nil {
					t.Fatalf("no response: %v", err)
				}
				if resp.StatusCode != tt.wantStatus {
					t.Fatalf("got status %d (%v), want %d", resp.StatusCode, err, tt.wantStatus)
				}
				if tt.wantStatus == http.StatusSwitchingProtocols {
					return
				}
				checkJSONError(t, resp)
			})
		})
	}

	t.Run("not a WebSocket handshake", func(t *testing.T) {
		counted(t, "handshake", func() {
			resp, err := newHTTPClient(t).Get(f.srv.URL + "/api/ws")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusUpgradeRequired {
				t.Fatalf("got status %d, want %d", resp.StatusCode, http.StatusUpgradeRequired)
			}
			checkJSONError(t, resp)
		})
	})

	frames := []struct {
		name   string
		typ    ws.MessageType
		msg    string
		code   ws.StatusCode
		reason string // the close reason, and the label counted
	}{
		{"invalid JSON", ws.MessageText, `{"op":`, ws.StatusInvalidFramePayloadData, "invalid_json"},
		{"JSON but not an object", ws.MessageText, `[1,2]`, ws.StatusInvalidFramePayloadData, "invalid_json"},
		{"unknown op", ws.MessageText, `{"op":"dance"}`, ws.StatusPolicyViolation, "unknown_op"},
		{"unknown symbol", ws.MessageText, `{"op":"symbols","symbols":["ACME","NOPE"]}`, ws.StatusPolicyViolation, "unknown_symbol"},
		{"binary frame", ws.MessageBinary, "\x01\x02\x03", ws.StatusUnsupportedData, "binary_frame"},
		{"over the read limit", ws.MessageText, `{"op":"symbols","symbols":["` + strings.Repeat("A", 5000) + `"]}`, ws.StatusMessageTooBig, "too_big"},
	}
	for _, tt := range frames {
		t.Run(tt.name, func(t *testing.T) {
			counted(t, tt.reason, func() {
				c := f.dial(t, "", nil)
				writeFrame(t, c, tt.typ, tt.msg)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				_, _, err := c.Read(ctx)
				var ce ws.CloseError
				if !errors.As(err, &ce) || ce.Code != tt.code {
					t.Fatalf("read returned %v, want a close with status %d", err, tt.code)
				}
				// Over the read limit, the library closes with its own reason.
				if tt.code != ws.StatusMessageTooBig && ce.Reason != tt.reason {
					t.Errorf("close reason %q, want %q", ce.Reason, tt.reason)
				}
				if ce.Reason == "" {
					t.Error("close reason is empty")
				}
			})
		})
		// The bystander keeps receiving between the cases.
		tk := f.lab.Publish(t, 1)[0]
		bystander.waitSeq(t, tk.Seq)
	}

	last := f.lab.Publish(t, 10)[9]
	bystander.waitSeq(t, last.Seq)
	checkNoGapNoDup(t, bystanderStats)
	if got := bystanderStats.Reconnects.Load(); got != 0 {
		t.Errorf("bystander reconnected %d times, want 0", got)
	}
	if got := uint64(len(bystander.snapshot())); got != last.Seq-first.Seq {
		t.Errorf("bystander got %d ticks, want %d", got, last.Seq-first.Seq)
	}
}

// checkJSONError checks the contract's error body: {"error": "..."}.
func checkJSONError(t *testing.T, resp *http.Response) {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var e struct{ Error string }
	if err := json.Unmarshal(body, &e); err != nil || e.Error == "" {
		t.Errorf("body %s, want {\"error\": \"...\"}", body)
	}
}

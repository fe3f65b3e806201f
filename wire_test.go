package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"commlab/shared/labtest"
)

// TestWire asks for one exchange of every pattern and checks each recording
// holds what crossed the socket: the request, the answer, the framing.
func TestWire(t *testing.T) {
	url, _ := startRun(t, "--rate", "50")
	// A short poll answers with the newest tick: wait until there is one.
	labtest.WaitFor(t, "the first tick", func() bool {
		_, _, body := get(t, url+"/api/poll")
		return strings.Contains(string(body), `"seq":`)
	})
	for _, tt := range []struct {
		pattern string
		want    []string // in the text of the parts, in this order
	}{
		{"poll", []string{"GET /api/poll HTTP/1.1\r\n", "HTTP/1.1 200 OK\r\n", `{"ticks":[{"seq":`}},
		{"longpoll", []string{"GET /api/poll?since=", "&wait=5s HTTP/1.1\r\n", "HTTP/1.1 200 OK\r\n", `"next":`}},
		{"sse", []string{"GET /api/sse?since=", "Content-Type: text/event-stream\r\n", "\r\nid: ", "event: tick\n\n\r\n"}},
		{"ws", []string{"Upgrade: websocket\r\n", "HTTP/1.1 101 Switching Protocols\r\n", `{"seq":`, `status 1000, reason "wire capture done"`}},
		{"pubsub", []string{"INFO {", "CONNECT {", "SUB ticks.>", "MSG ticks.", `{"seq":`}},
	} {
		t.Run(tt.pattern, func(t *testing.T) {
			status, _, body := get(t, url+"/api/wire?pattern="+tt.pattern)
			if status != http.StatusOK {
				t.Fatalf("status %d: %s", status, body)
			}
			var c wireCapture
			if err := json.Unmarshal(body, &c); err != nil {
				t.Fatal(err)
			}
			var all strings.Builder
			for _, p := range c.Parts {
				if p.From != "client" && p.From != "server" {
					t.Errorf("part from %q, want client or server", p.From)
				}
				all.WriteString(p.Text)
			}
			text := all.String()
			at := 0
			for _, w := range tt.want {
				i := strings.Index(text[at:], w)
				if i < 0 {
					t.Fatalf("%q missing after byte %d of the recording:\n%s", w, at, text)
				}
				at += i + len(w)
			}
		})
	}
	t.Run("frame headers", func(t *testing.T) {
		_, _, body := get(t, url+"/api/wire?pattern=ws")
		var c wireCapture
		if err := json.Unmarshal(body, &c); err != nil {
			t.Fatal(err)
		}
		// A server's text frame of a tick: FIN and opcode 1 (0x81), unmasked,
		// a 7-bit length. The client's close frame: 0x88, mask bit set.
		var tick, closing bool
		for _, p := range c.Parts {
			tick = tick || (p.From == "server" && strings.HasPrefix(p.Hex, "81 ") && len(p.Hex) == len("81 44"))
			closing = closing || (p.From == "client" && strings.HasPrefix(p.Hex, "88 93 "))
		}
		if !tick || !closing {
			t.Errorf("want a server text frame header 81 xx and a masked client close frame 88 93 ...; parts: %+v", c.Parts)
		}
	})
	t.Run("bad pattern", func(t *testing.T) {
		status, _, body := get(t, url+"/api/wire?pattern=smoke-signals")
		if status != http.StatusBadRequest || !strings.Contains(string(body), "pattern must be one of") {
			t.Errorf("status %d %s, want 400 naming the patterns", status, body)
		}
		_, _, metrics := get(t, url+"/metrics")
		if want := `commlab_bad_input_total{pattern="api",reason="pattern"} 1`; !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	})
}

// A broker given with credentials keeps them out of the wire view.
func TestWireRedactsCredentials(t *testing.T) {
	line := redactConnect(`CONNECT {"verbose":false,"user":"alice","pass":"s3cret","name":"x"}` + "\r\n")
	if strings.Contains(line, "s3cret") || strings.Contains(line, "alice") || !strings.HasSuffix(line, "\r\n") {
		t.Errorf("redactConnect left %q", line)
	}
	if got := redactConnect("CONNECT {\"verbose\":false}\r\n"); got != "CONNECT {\"verbose\":false}\r\n" {
		t.Errorf("redactConnect changed a line without credentials: %q", got)
	}
	for in, want := range map[string]string{
		"nats://alice:s3cret@127.0.0.1:4222":    "nats://alice:xxxxx@127.0.0.1:4222",
		"nats://tok3n@127.0.0.1:4222":           "nats://REDACTED@127.0.0.1:4222",
		"nats://127.0.0.1:4222,nats://b:pw@h:1": "nats://127.0.0.1:4222,nats://b:xxxxx@h:1",
	} {
		if got := redactURLs(in); got != want {
			t.Errorf("redactURLs(%q) = %q, want %q", in, got, want)
		}
	}
}

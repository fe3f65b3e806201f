package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// How a wire capture's bytes are cut into the parts a learner reads: HTTP
// heads and bodies, WebSocket frames (RFC 6455, section 5.2), and the lines
// of NATS's text protocol.

// httpParts splits an HTTP message into its head and its body.
func httpParts(from string, b []byte, pattern string) []wirePart {
	head, body, found := bytes.Cut(b, []byte("\r\n\r\n"))
	if !found {
		return []wirePart{{From: from, What: "more body", Text: string(b)}}
	}
	what := "request: request line and headers, then an empty line"
	if from == "server" {
		what = "response: status line and headers, then an empty line"
	}
	parts := []wirePart{{From: from, What: what, Text: string(head) + "\r\n\r\n"}}
	if len(body) == 0 {
		return parts
	}
	if pattern == "sse" {
		// The stream never ends: keep the first tick event's chunk.
		if i := bytes.Index(body, []byte("event: tick\n")); i >= 0 {
			if j := bytes.Index(body[i:], []byte("\n\n\r\n")); j >= 0 {
				body = body[:i+j+4]
			}
		}
	}
	return append(parts, wirePart{From: from, What: bodyWhat(pattern), Text: string(body)})
}

func bodyWhat(pattern string) string {
	if pattern == "sse" {
		return "body, chunked: each chunk is its size in hex, CRLF, the bytes, CRLF; an event is id:, event: and data: lines and an empty line"
	}
	return "body: the JSON answer, Content-Length bytes"
}

// wsParts is the upgrade's HTTP head, then one part per WebSocket frame.
func wsParts(from string, b []byte) []wirePart {
	var parts []wirePart
	if bytes.HasPrefix(b, []byte("GET ")) || bytes.HasPrefix(b, []byte("HTTP/1.1 ")) {
		head, rest, _ := bytes.Cut(b, []byte("\r\n\r\n"))
		what := "upgrade request: an HTTP GET asking to switch protocols"
		if from == "server" {
			what = "101 Switching Protocols: from here on, WebSocket frames"
		}
		parts = append(parts, wirePart{From: from, What: what, Text: string(head) + "\r\n\r\n"})
		b = rest
	}
	skipped := 0
	for len(b) > 0 {
		f, ok := parseFrame(b)
		if !ok {
			parts = append(parts, wirePart{From: from, What: "part of a frame, cut off by the capture", Hex: hexBytes(b)})
			break
		}
		b = b[f.size:]
		// One tick frame shows the framing; the others the lab read while
		// closing say nothing new.
		if f.opcode == 0x1 && countText(parts) > 0 {
			skipped++
			continue
		}
		parts = append(parts, f.part(from))
	}
	if skipped > 0 {
		parts = append(parts, wirePart{From: from, What: fmt.Sprintf("(%d more tick frames, read while closing, not shown)", skipped)})
	}
	return parts
}

func countText(parts []wirePart) int {
	n := 0
	for _, p := range parts {
		if strings.HasPrefix(p.What, "text frame") {
			n++
		}
	}
	return n
}

// frame is one parsed WebSocket frame (RFC 6455 section 5.2).
type frame struct {
	header  []byte // the first 2 to 14 bytes: flags, opcode, length, mask key
	fin     bool
	opcode  byte
	masked  bool
	payload []byte // unmasked
	size    int    // header + payload
}

func parseFrame(b []byte) (frame, bool) {
	if len(b) < 2 {
		return frame{}, false
	}
	f := frame{fin: b[0]&0x80 != 0, opcode: b[0] & 0x0f, masked: b[1]&0x80 != 0}
	n, h := uint64(b[1]&0x7f), 2
	switch n {
	case 126:
		if len(b) < 4 {
			return frame{}, false
		}
		n, h = uint64(b[2])<<8|uint64(b[3]), 4
	case 127:
		if len(b) < 10 {
			return frame{}, false
		}
		n, h = 0, 10
		for _, c := range b[2:10] {
			n = n<<8 | uint64(c)
		}
	}
	var key []byte
	if f.masked {
		if len(b) < h+4 {
			return frame{}, false
		}
		key, h = b[h:h+4], h+4
	}
	if uint64(len(b)-h) < n {
		return frame{}, false
	}
	f.header = b[:h]
	f.payload = append([]byte(nil), b[h:h+int(n)]...)
	for i := range f.payload {
		if key != nil {
			f.payload[i] ^= key[i%4]
		}
	}
	f.size = h + int(n)
	return f, true
}

var opcodes = map[byte]string{0x0: "continuation", 0x1: "text", 0x2: "binary", 0x8: "close", 0x9: "ping", 0xa: "pong"}

func (f frame) part(from string) wirePart {
	name := opcodes[f.opcode]
	if name == "" {
		name = fmt.Sprintf("opcode %#x", f.opcode)
	}
	mask := "unmasked (server to client)"
	if f.masked {
		mask = "masked with the 4-byte key that ends the header (client to server must mask); shown unmasked"
	}
	what := fmt.Sprintf("%s frame: header %d bytes (FIN=%t, opcode %#x, %s), payload %d bytes", name, len(f.header), f.fin, f.opcode, mask, len(f.payload))
	text := string(f.payload)
	if f.opcode == 0x8 && len(f.payload) >= 2 {
		code := int(f.payload[0])<<8 | int(f.payload[1])
		text = fmt.Sprintf("status %d, reason %q", code, f.payload[2:])
	}
	return wirePart{From: from, What: what, Hex: hexBytes(f.header), Text: text}
}

func hexBytes(b []byte) string {
	parts := make([]string, len(b))
	for i, c := range b {
		parts[i] = fmt.Sprintf("%02x", c)
	}
	return strings.Join(parts, " ")
}

// natsLines is one part per protocol line of NATS's text protocol; a MSG line
// and the payload after it stay together, as they travel.
func natsLines(from string, b []byte) []wirePart {
	var parts []wirePart
	for len(b) > 0 {
		line, rest, found := bytes.Cut(b, []byte("\r\n"))
		if !found {
			parts = append(parts, wirePart{From: from, What: "part of a line, cut off by the capture", Text: string(b)})
			break
		}
		text := string(line) + "\r\n"
		verb, _, _ := strings.Cut(string(line), " ")
		if verb == "MSG" || verb == "HMSG" {
			// MSG <subject> <sid> [reply] <size>: the payload follows.
			fields := strings.Fields(string(line))
			size, err := strconv.Atoi(fields[len(fields)-1])
			if err == nil && len(rest) >= size+2 {
				text += string(rest[:size+2])
				rest = rest[size+2:]
			}
		}
		if verb == "CONNECT" {
			text = redactConnect(text)
		}
		parts = append(parts, wirePart{From: from, What: natsVerbs[verb], Text: text})
		b = rest
		if verb == "MSG" || verb == "HMSG" {
			break // one tick is the lesson; more may have come before the hang-up
		}
	}
	return parts
}

var natsVerbs = map[string]string{
	"INFO":    "INFO: the server introduces itself",
	"CONNECT": "CONNECT: the client's options",
	"PING":    "PING: are you there? (also how a client flushes)",
	"PONG":    "PONG: yes",
	"SUB":     "SUB <subject> [queue group] <sid>: subscribe; a queue worker adds its group",
	"UNSUB":   "UNSUB <sid>: unsubscribe",
	"MSG":     "MSG <subject> <sid> <bytes>, then the payload: the tick, the same bytes every pattern sends",
	"HMSG":    "HMSG <subject> <sid> <header bytes> <total bytes>: headers (the feed's epoch), then the tick, the same bytes every pattern sends",
	"+OK":     "+OK",
	"-ERR":    "-ERR: the server refuses something",
}

// secretOptions are the CONNECT fields that carry credentials.
var secretOptions = []string{"user", "pass", "auth_token", "jwt", "nkey", "sig"}

// redactConnect hides the credentials in a CONNECT line: the wire view shows
// the protocol, not the password of a broker given with --nats-url.
func redactConnect(line string) string {
	verb, body, _ := strings.Cut(strings.TrimSuffix(line, "\r\n"), " ")
	var opts map[string]any
	if err := json.Unmarshal([]byte(body), &opts); err != nil {
		return verb + " (options not shown: not JSON)\r\n"
	}
	hidden := false
	for _, k := range secretOptions {
		if _, ok := opts[k]; ok {
			opts[k] = "REDACTED"
			hidden = true
		}
	}
	if !hidden {
		return line
	}
	b, err := json.Marshal(opts)
	if err != nil {
		return verb + " (options not shown)\r\n"
	}
	return verb + " " + string(b) + "\r\n"
}

// redactURLs hides the passwords in a comma-separated list of broker URLs.
func redactURLs(list string) string {
	urls := strings.Split(list, ",")
	for i, u := range urls {
		if parsed, err := url.Parse(strings.TrimSpace(u)); err == nil {
			if _, hasPassword := parsed.User.Password(); parsed.User != nil && !hasPassword {
				parsed.User = url.User("REDACTED") // nats://TOKEN@host: the name is the secret
			}
			urls[i] = parsed.Redacted()
		}
	}
	return strings.Join(urls, ",")
}

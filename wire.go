package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	ws "github.com/coder/websocket"
	"github.com/nats-io/nats.go"

	"commlab/shared"
)

// The wire view: GET /api/wire?pattern=poll|longpoll|sse|ws|pubsub answers
// with the bytes of one real exchange, as they crossed a socket. The lab makes
// the exchange with itself, as an ordinary client would: it dials its own
// listener (or its NATS broker) through a connection that records every byte
// read and written, takes one tick, hangs up, and cuts the recording into its
// parts: request, response head, body, frames, protocol lines.
//
// Nothing here is a hand-written sample: change the server and the view
// changes with it.

// wireCapture is one recorded exchange, in the order the bytes crossed.
type wireCapture struct {
	Pattern string     `json:"pattern"`
	Target  string     `json:"target"` // where the lab dialled
	Parts   []wirePart `json:"parts"`
}

// wirePart is one step of the exchange.
type wirePart struct {
	From string `json:"from"`          // "client" or "server"
	What string `json:"what"`          // what these bytes are
	Hex  string `json:"hex,omitempty"` // bytes that are not text: a frame header
	Text string `json:"text"`          // the bytes themselves, CR and LF included
}

// wireTimeout bounds one capture: a long poll waits for the next tick, and a
// paused feed (rate 0) sends none.
const wireTimeout = 6 * time.Second

// wireLimit bounds what a recording keeps: one tick's exchange is a few hundred
// bytes; a fast feed may push more before the lab hangs up.
const wireLimit = 16 << 10

var wirePatterns = []string{"poll", "longpoll", "sse", "ws", "pubsub"}

// handleWire runs one capture at a time: each one is a real client of the lab.
func (l *lab) handleWire() http.Handler {
	stats := l.metrics.Pattern("api")
	var running sync.Mutex
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q, ok := strictQuery(w, r, stats)
		if !ok {
			return
		}
		pattern := q.Get("pattern")
		if !slices.Contains(wirePatterns, pattern) {
			stats.Bad("pattern")
			shared.WriteError(w, http.StatusBadRequest, "pattern must be one of "+strings.Join(wirePatterns, ", "))
			return
		}
		if !running.TryLock() {
			shared.WriteError(w, http.StatusTooManyRequests, "another wire capture is running: try again in a moment")
			return
		}
		defer running.Unlock()
		ctx, cancel := context.WithTimeout(r.Context(), wireTimeout)
		defer cancel()
		capture, err := l.captureWire(ctx, pattern)
		if err != nil {
			shared.WriteError(w, http.StatusServiceUnavailable, fmt.Sprintf("capture %s: %v", pattern, err))
			return
		}
		// The capture may have taken most of the write deadline short() set.
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(shortWriteTimeout))
		shared.WriteJSON(w, http.StatusOK, capture)
	})
}

func (l *lab) captureWire(ctx context.Context, pattern string) (*wireCapture, error) {
	rec := new(recording)
	base := l.selfURL()
	// A tick the lab still holds, so poll, SSE and WebSocket answer at once.
	held := l.gateway.History.Last()
	if held > 0 {
		held--
	}
	var err error
	switch pattern {
	case "poll":
		err = httpExchange(ctx, rec, base+"/api/poll", nil)
	case "longpoll":
		// Asks for the tick after the newest one: the server holds the request
		// until the feed publishes it.
		err = httpExchange(ctx, rec, fmt.Sprintf("%s/api/poll?since=%d&wait=5s", base, l.gateway.History.Last()), nil)
	case "sse":
		err = httpExchange(ctx, rec, fmt.Sprintf("%s/api/sse?since=%d", base, held), readOneEvent)
	case "ws":
		err = wsExchange(ctx, rec, fmt.Sprintf("%s/api/ws?since=%d", base, held))
	case "pubsub":
		err = natsExchange(ctx, rec, l.broker.URL())
	}
	if err != nil {
		return nil, err
	}
	target := base
	if pattern == "pubsub" {
		target = redactURLs(l.broker.URL())
	}
	return &wireCapture{Pattern: pattern, Target: target, Parts: rec.parts(pattern)}, nil
}

// selfURL is where the lab's own listener answers; a wildcard address
// (0.0.0.0, [::]) is dialled on loopback.
func (l *lab) selfURL() string {
	addr := l.listener.Addr().(*net.TCPAddr)
	host := addr.IP.String()
	if addr.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, strconv.Itoa(addr.Port))
}

// httpExchange makes one GET over a recorded connection and reads the answer:
// all of it, or as much as readBody takes from a stream that does not end.
func httpExchange(ctx context.Context, rec *recording, url string, readBody func(io.Reader) error) error {
	client := &http.Client{Transport: rec.transport()}
	defer client.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if readBody == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}
	return readBody(resp.Body)
}

// readOneEvent reads an event stream up to the end of its first tick event.
func readOneEvent(body io.Reader) error {
	lines := bufio.NewScanner(body)
	tick := false
	for lines.Scan() {
		line := lines.Text()
		if line == "event: tick" {
			tick = true
		}
		if line == "" && tick {
			return nil
		}
	}
	if err := lines.Err(); err != nil {
		return err
	}
	return io.ErrUnexpectedEOF
}

// wsExchange upgrades, reads one frame and closes the connection properly, so
// the recording shows a close frame each way, the client's masked.
func wsExchange(ctx context.Context, rec *recording, url string) error {
	client := &http.Client{Transport: rec.transport()}
	defer client.CloseIdleConnections()
	c, _, err := ws.Dial(ctx, url, &ws.DialOptions{HTTPClient: client})
	if err != nil {
		return err
	}
	defer c.CloseNow()
	if _, _, err := c.Read(ctx); err != nil {
		return err
	}
	// Close waits for the server's close frame; the ticks queued before it
	// are read and dropped on the way.
	return c.Close(ws.StatusNormalClosure, "wire capture done")
}

// natsExchange subscribes to every tick on the broker and waits for one.
func natsExchange(ctx context.Context, rec *recording, url string) error {
	nc, err := nats.Connect(url, nats.Name("commlab-wire"), nats.SetCustomDialer(rec), nats.NoReconnect())
	if err != nil {
		return err
	}
	defer nc.Close()
	sub, err := nc.SubscribeSync("ticks.>")
	if err != nil {
		return err
	}
	if _, err := sub.NextMsgWithContext(ctx); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return errors.New("no tick within the capture's time: is the feed paused (rate 0)?")
		}
		return err
	}
	return nil
}

// recording keeps the bytes of one connection, in order, merged into runs
// of one direction.
type recording struct {
	mu   sync.Mutex
	runs []wireRun
	size int
}

type wireRun struct {
	fromClient bool
	b          []byte
}

func (r *recording) add(fromClient bool, b []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(b) == 0 || r.size >= wireLimit {
		return
	}
	b = b[:min(len(b), wireLimit-r.size)]
	r.size += len(b)
	if n := len(r.runs); n > 0 && r.runs[n-1].fromClient == fromClient {
		r.runs[n-1].b = append(r.runs[n-1].b, b...)
		return
	}
	r.runs = append(r.runs, wireRun{fromClient, append([]byte(nil), b...)})
}

// Dial makes a recording a nats.CustomDialer.
func (r *recording) Dial(network, address string) (net.Conn, error) {
	c, err := net.DialTimeout(network, address, wireTimeout)
	if err != nil {
		return nil, err
	}
	return &tapConn{Conn: c, rec: r}, nil
}

// transport is an HTTP transport whose one connection is recorded.
func (r *recording) transport() *http.Transport {
	return &http.Transport{
		DialContext: func(ctx context.Context, network, address string) (net.Conn, error) {
			var d net.Dialer
			c, err := d.DialContext(ctx, network, address)
			if err != nil {
				return nil, err
			}
			return &tapConn{Conn: c, rec: r}, nil
		},
		DisableCompression: true, // as sent: no gzip the lab did not ask for
	}
}

// tapConn records what crosses a connection: what the lab's client writes is
// the client's, what it reads is the server's.
type tapConn struct {
	net.Conn
	rec *recording
}

func (c *tapConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.rec.add(false, p[:n])
	return n, err
}

// Write records before it writes: the answer may be read, and recorded, on
// another goroutine before this one runs again.
func (c *tapConn) Write(p []byte) (int, error) {
	c.rec.add(true, p)
	return c.Conn.Write(p)
}

// parts cuts the recording into the steps a learner reads.
func (r *recording) parts(pattern string) []wirePart {
	r.mu.Lock()
	defer r.mu.Unlock()
	var parts []wirePart
	for _, run := range r.runs {
		from := "server"
		if run.fromClient {
			from = "client"
		}
		switch pattern {
		case "pubsub":
			parts = append(parts, natsLines(from, run.b)...)
		case "ws":
			parts = append(parts, wsParts(from, run.b)...)
		default:
			parts = append(parts, httpParts(from, run.b, pattern)...)
		}
	}
	return parts
}

package websocket

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	ws "github.com/coder/websocket"

	"commlab/shared"
)

// ClientOptions tune Subscribe; nil means the defaults.
type ClientOptions struct {
	// Since resumes after this seq; 0 starts with live ticks only.
	Since uint64
	// Symbols narrows the stream to these symbols with the symbols op; empty
	// means all.
	Symbols []string
	// HTTPClient makes the handshake; nil: shared.NewHTTPClient(Stats), which
	// counts the bytes read into Stats.Bytes.
	HTTPClient *http.Client
	// Stats counts what the client sees; nil: a private one.
	Stats *shared.ClientStats
	// Log receives connection events; nil: discard.
	Log *slog.Logger
}

// clientReadLimit caps one server message. Ticks are about 80 bytes; the limit
// only guards against a broken or hostile server.
const clientReadLimit = 64 << 10

// refusedError is a handshake the server answered with a 4xx: asking again
// would get the same answer.
type refusedError struct{ err error }

func (e *refusedError) Error() string { return e.err.Error() }
func (e *refusedError) Unwrap() error { return e.err }

// Subscribe streams ticks from the lab at baseURL (e.g. "http://127.0.0.1:8080")
// over a WebSocket and calls fn for each one, on the caller's goroutine, in seq
// order, once per seq. It reconnects with backoff after a network failure or a
// close that says "try again" and resumes after the last seq it delivered. It
// returns nil when ctx ends, and an error only when retrying cannot help: the
// server refused the handshake (4xx) or closed the connection over something
// this client sent (1003, 1007, 1008, 1009).
func Subscribe(ctx context.Context, baseURL string, fn func(shared.Tick), opts *ClientOptions) error {
	var o ClientOptions
	if opts != nil {
		o = *opts
	}
	if o.Stats == nil {
		o.Stats = new(shared.ClientStats)
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.HTTPClient == nil {
		o.HTTPClient = shared.NewHTTPClient(o.Stats)
		defer o.HTTPClient.CloseIdleConnections()
	}
	u, err := streamURL(baseURL)
	if err != nil {
		return err
	}
	cl := &client{url: u, opts: o, fn: fn, tr: shared.NewTracker(o.Since, o.Stats)}
	for _, sym := range o.Symbols {
		if !shared.ValidSymbol(sym) {
			return fmt.Errorf("websocket: invalid symbol %q", sym)
		}
		if cl.want == nil {
			cl.want = make(map[string]bool)
		}
		cl.want[sym] = true
	}

	backoff := shared.Backoff{Min: 100 * time.Millisecond, Max: 5 * time.Second}
	for {
		err := cl.connect(ctx, &backoff)
		if ctx.Err() != nil {
			return nil
		}
		if permanent(err) {
			return err
		}
		o.Log.Info("websocket: disconnected, will reconnect", "pattern", "ws", "remote", u.Host, "err", err)
		if shared.Sleep(ctx, backoff.Next()) != nil {
			return nil
		}
	}
}

// client is one Subscribe call's state across its connections.
type client struct {
	url       *url.URL
	opts      ClientOptions
	fn        func(shared.Tick)
	tr        *shared.Tracker
	want      map[string]bool // the symbols asked for; nil: all
	connected bool            // a connection was made before: the next one is a reconnect
}

// connect makes one connection and reads from it until it ends.
func (cl *client) connect(ctx context.Context, backoff *shared.Backoff) error {
	u := *cl.url
	if cl.tr.Last > 0 {
		u.RawQuery = "since=" + strconv.FormatUint(cl.tr.Last, 10)
	}
	cl.opts.Stats.Requests.Add(1)
	c, resp, err := ws.Dial(ctx, u.String(), &ws.DialOptions{HTTPClient: cl.opts.HTTPClient})
	if err != nil {
		if resp != nil && resp.StatusCode >= 400 && resp.StatusCode < 500 &&
			resp.StatusCode != http.StatusRequestTimeout && resp.StatusCode != http.StatusTooManyRequests {
			body, _ := io.ReadAll(resp.Body) // Dial kept the first KiB of the body: our {"error": ...}
			return &refusedError{fmt.Errorf("websocket: server refused the handshake: %s %s", resp.Status, bytes.TrimSpace(body))}
		}
		return fmt.Errorf("websocket: dial: %w", err)
	}
	defer c.CloseNow()
	c.SetReadLimit(clientReadLimit)
	if cl.connected {
		cl.opts.Stats.Reconnects.Add(1)
	}
	cl.connected = true
	backoff.Reset()
	cl.opts.Log.Info("websocket: connected", "pattern", "ws", "remote", u.Host, "since", cl.tr.Last)

	// Leave politely: when ctx ends, send a normal close; the server answers
	// with its own close frame and the Read below returns. Reads use
	// context.Background() because an ended read context makes the library drop
	// the TCP connection without a word.
	closed := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(closed)
		_ = c.Close(ws.StatusNormalClosure, "client done")
	})
	defer func() {
		if !stop() {
			<-closed
		}
	}()

	if cl.want != nil {
		op, err := json.Marshal(symbolsOp{Op: opSymbols, Symbols: cl.opts.Symbols})
		if err != nil {
			return err
		}
		wctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = c.Write(wctx, ws.MessageText, op)
		cancel()
		if err != nil {
			return fmt.Errorf("websocket: send symbols: %w", err)
		}
	}
	for {
		typ, data, err := c.Read(context.Background())
		if err != nil {
			return fmt.Errorf("websocket: read: %w", err)
		}
		if ctx.Err() != nil {
			continue // closing: read on until the server's close frame, deliver nothing
		}
		if err := cl.handle(typ, data); err != nil {
			return err
		}
	}
}

// handle dispatches one frame: a tick, or a control message with an "op".
func (cl *client) handle(typ ws.MessageType, data []byte) error {
	if typ != ws.MessageText {
		return errors.New("websocket: server sent a binary frame")
	}
	t, err := shared.ParseTick(data)
	if err == nil {
		cl.deliver(t)
		return nil
	}
	var ctl shared.Control
	if json.Unmarshal(data, &ctl) != nil || ctl.Op == "" {
		return fmt.Errorf("websocket: frame is neither a tick nor a control message: %w", err)
	}
	switch ctl.Op {
	case shared.OpReset:
		cl.opts.Log.Info("websocket: server reset the sequence", "pattern", "ws", "remote", cl.url.Host, "next", ctl.Next, "epoch", ctl.Epoch)
		cl.tr.Reset(ctl.Next)
	case opSymbols:
		cl.opts.Log.Debug("websocket: symbols acknowledged", "pattern", "ws", "remote", cl.url.Host)
	default:
		// A newer server may add ops; ignoring them keeps old clients working.
		cl.opts.Log.Debug("websocket: ignored control message", "pattern", "ws", "op", ctl.Op)
	}
	return nil
}

// deliver hands a tick to fn unless the tracker has seen its seq.
func (cl *client) deliver(t shared.Tick) {
	if cl.want != nil {
		if !cl.want[t.Symbol] {
			// Sent before the server applied our symbols op. Not ours, but our
			// place in the feed moves past it: a resume need not ask for it.
			cl.tr.Last = max(cl.tr.Last, t.Seq)
			return
		}
		// The server skips the other symbols' seqs, so a jump forward is
		// expected here, not a gap: only duplicates are counted.
		if t.Seq > cl.tr.Last {
			cl.tr.Last = t.Seq - 1
		}
	}
	if cl.tr.Accept(t.Seq) {
		cl.fn(t)
	}
}

// permanent reports whether retrying cannot help.
func permanent(err error) bool {
	var refused *refusedError
	if errors.As(err, &refused) {
		return true
	}
	// The server closed the connection over something this client sent. Every
	// other close (1001 going away, 1011, 1012 restart, 1013 try again later)
	// and every network error is worth a reconnect.
	switch ws.CloseStatus(err) {
	case ws.StatusUnsupportedData, ws.StatusInvalidFramePayloadData, ws.StatusPolicyViolation, ws.StatusMessageTooBig:
		return true
	}
	return false
}

// streamURL maps the lab's base URL to its WebSocket endpoint:
// http://host -> ws://host/api/ws, https -> wss.
func streamURL(base string) (*url.URL, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("websocket: base URL: %w", err)
	}
	switch u.Scheme {
	case "http", "ws":
		u.Scheme = "ws"
	case "https", "wss":
		u.Scheme = "wss"
	default:
		return nil, fmt.Errorf("websocket: base URL %q: want http:// or https://", base)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/api/ws"
	u.RawQuery = ""
	return u, nil
}

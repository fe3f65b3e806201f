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
	"sync/atomic"
	"time"

	ws "github.com/coder/websocket"

	"commlab/shared"
)

// ClientOptions tune Subscribe; nil means the defaults.
type ClientOptions struct {
	// Since resumes after this seq; 0 starts with live ticks only.
	Since uint64
	// Symbols narrows the stream to these symbols with the symbols op; empty
	// means all. Gaps cannot be detected on a narrowed stream: the seqs of the
	// other symbols are missing from it by design.
	Symbols []string
	// IdleTimeout is how long the connection may stay silent, no frame and no
	// ping, before the client drops it and reconnects. A server that vanished
	// without closing (powered off, a NAT mapping dropped) is otherwise noticed
	// only by TCP keepalive, minutes later. Default 60s: three of the server's
	// default 20s ping intervals. Negative disables it.
	IdleTimeout time.Duration
	// HTTPClient makes the handshake; nil: shared.NewHTTPClient(Stats), which
	// counts the bytes read into Stats.Bytes.
	HTTPClient *http.Client
	// Stats counts what the client sees; nil: a private one.
	Stats *shared.ClientStats
	// Log receives connection events; nil: discard.
	Log *slog.Logger
}

const (
	// clientReadLimit caps one server message. Ticks are about 80 bytes; the
	// limit only guards against a broken or hostile server.
	clientReadLimit = 64 << 10
	// handshakeTimeout bounds a dial and its upgrade: a server that accepts
	// the TCP connection and then says nothing must not hold the client.
	handshakeTimeout = 10 * time.Second
)

// refusedError is a handshake the server answered with 400: our request is
// malformed, and sending it again would get the same answer.
type refusedError struct{ err error }

func (e *refusedError) Error() string { return e.err.Error() }
func (e *refusedError) Unwrap() error { return e.err }

// Subscribe streams ticks from the lab at baseURL (e.g. "http://127.0.0.1:8080")
// over a WebSocket and calls fn for each one, on the caller's goroutine, in seq
// order, once per seq. It reconnects with backoff, for as long as ctx lives,
// after anything that may pass: a network failure, a silent server, a close
// that says "try again", an HTTP error a proxy may answer during a deploy; and
// it resumes after the last seq it delivered. It returns nil when ctx ends,
// and an error only when retrying cannot help: the handshake got 400 (our
// request is malformed), or the server closed the connection over something
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
	if o.IdleTimeout == 0 {
		o.IdleTimeout = 60 * time.Second
	}
	u, err := streamURL(baseURL)
	if err != nil {
		return err
	}
	cl := &client{url: u, opts: o, fn: fn, tr: shared.NewTracker(o.Since, o.Stats), placed: o.Since > 0, last: o.Since}
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
		wait := backoff.Next()
		o.Log.Info("will reconnect", "pattern", "ws", "remote", u.Host, "err", err, "wait", wait)
		if shared.Sleep(ctx, wait) != nil {
			return nil
		}
	}
}

// client is one Subscribe call's state across its connections.
type client struct {
	url       *url.URL
	opts      ClientOptions
	fn        func(shared.Tick)
	connected bool // a connection was made before: the next one is a reconnect

	// The client's place in the feed, which a reconnect resumes from. On the
	// whole feed the tracker keeps it, and counts gaps and duplicates. On a
	// stream narrowed to want, last keeps it: the other symbols' seqs are
	// missing by design, so a gap cannot be told from them.
	tr     *shared.Tracker
	want   map[string]bool // the symbols asked for; nil: the whole feed
	last   uint64          // with want: the newest seq seen
	placed bool            // the client has a place (Since, a tick, a reset): reconnects send since
}

// connect makes one connection and reads from it until it ends. The backoff
// starts over once the server has sent a frame: a server that accepts and
// at once closes (1013 try again later, 1012 restarting) must not be dialled
// again every 100 ms.
func (cl *client) connect(ctx context.Context, backoff *shared.Backoff) error {
	u := *cl.url
	if cl.placed {
		u.RawQuery = "since=" + strconv.FormatUint(cl.place(), 10)
	}
	cl.opts.Stats.Requests.Add(1)

	// The idle watchdog is armed once connected; the server's pings feed it
	// from inside c.Read, on this goroutine.
	var idle *watchdog
	dctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
	c, resp, err := ws.Dial(dctx, u.String(), &ws.DialOptions{
		HTTPClient: cl.opts.HTTPClient,
		OnPingReceived: func(context.Context, []byte) bool {
			idle.kick()
			return true // and answer with a pong
		},
	})
	cancel() // the connection, once made, does not depend on dctx
	if err != nil {
		if resp == nil || resp.StatusCode == http.StatusSwitchingProtocols {
			return fmt.Errorf("websocket: dial: %w", err)
		}
		body, _ := io.ReadAll(resp.Body) // Dial kept the first KiB of the body: our {"error": ...}
		err = fmt.Errorf("websocket: handshake answered %s %s", resp.Status, bytes.TrimSpace(body))
		if resp.StatusCode == http.StatusBadRequest {
			return &refusedError{err}
		}
		return err // 403, 404, 502...: a proxy may say so while the server restarts
	}
	defer c.CloseNow()
	c.SetReadLimit(clientReadLimit)
	if cl.connected {
		cl.opts.Stats.Reconnects.Add(1)
	}
	cl.connected = true
	since := "live" // no place yet: the ticks from now on
	if cl.placed {
		since = strconv.FormatUint(cl.place(), 10)
	}
	cl.opts.Log.Info("connected", "pattern", "ws", "remote", u.Host, "since", since)

	idle = newWatchdog(cl.opts.IdleTimeout, func() { _ = c.CloseNow() })
	defer idle.stop()

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
		if err := sendSymbols(c, cl.opts.Symbols); err != nil {
			return err
		}
	}
	var buf bytes.Buffer // one message at a time: reused for every read
	for first := true; ; first = false {
		typ, data, err := readMessage(c, &buf)
		if err != nil {
			if idle.barked() {
				return fmt.Errorf("websocket: no frame and no ping for %v: %w", cl.opts.IdleTimeout, err)
			}
			return fmt.Errorf("websocket: read: %w", err)
		}
		idle.kick()
		if first {
			backoff.Reset() // the server spoke: this connection worked
		}
		if ctx.Err() != nil {
			continue // closing: read on until the server's close frame, deliver nothing
		}
		if err := cl.handle(typ, data); err != nil {
			return err
		}
	}
}

// readMessage reads the next message into buf. c.Read would do the same into
// a new buffer each time (io.ReadAll's, 512 bytes to start): at thousands of
// ticks a second that garbage costs a client more than parsing the ticks.
// The bytes are valid until the next read; handle keeps none of them.
func readMessage(c *ws.Conn, buf *bytes.Buffer) (ws.MessageType, []byte, error) {
	typ, r, err := c.Reader(context.Background())
	if err != nil {
		return 0, nil, err
	}
	buf.Reset()
	if _, err := buf.ReadFrom(r); err != nil {
		return 0, nil, err
	}
	return typ, buf.Bytes(), nil
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
		// The ticks up to Next are gone, or (Next 0, a new epoch) the feed
		// restarted: either way the stream goes on after Next.
		cl.opts.Log.Info("server reset the sequence", "pattern", "ws", "remote", cl.url.Host, "next", ctl.Next, "epoch", ctl.Epoch)
		cl.placed = true
		if cl.want == nil {
			cl.tr.Reset(ctl.Next)
		} else {
			cl.opts.Stats.Resets.Add(1)
			cl.last = ctl.Next
		}
	case opSymbols:
		cl.opts.Log.Debug("symbols acknowledged", "pattern", "ws", "remote", cl.url.Host)
	default:
		// A newer server may add ops; ignoring them keeps old clients working.
		cl.opts.Log.Debug("control message ignored", "pattern", "ws", "op", ctl.Op)
	}
	return nil
}

// deliver hands a tick to fn once, in seq order.
func (cl *client) deliver(t shared.Tick) {
	cl.placed = true
	if cl.want == nil {
		// The whole feed: every seq is accounted for, delivered once or
		// counted as a gap or a duplicate.
		if cl.tr.Accept(t.Seq) {
			cl.fn(t)
		}
		return
	}
	// A narrowed stream: the seqs in between belong to other symbols, so only
	// a step back is a fault (a duplicate). A tick of another symbol was sent
	// before the server applied our op; it is not ours, but the place moves
	// past it, so a resume need not ask for it again.
	if t.Seq <= cl.last {
		cl.opts.Stats.Dups.Add(1)
		return
	}
	cl.last = t.Seq
	if cl.want[t.Symbol] {
		cl.opts.Stats.Messages.Add(1)
		cl.fn(t)
	}
}

// place is the newest seq the client has seen: a reconnect resumes after it.
func (cl *client) place() uint64 {
	if cl.want == nil {
		return cl.tr.Last
	}
	return cl.last
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

// watchdog calls bark, once, when kick has not been called for timeout. A nil
// watchdog (timeout negative: disabled) does nothing.
type watchdog struct {
	timer   *time.Timer
	timeout time.Duration
	fired   atomic.Bool
	done    chan struct{} // closed when bark has returned
}

func newWatchdog(timeout time.Duration, bark func()) *watchdog {
	if timeout < 0 {
		return nil
	}
	w := &watchdog{timeout: timeout, done: make(chan struct{})}
	w.timer = time.AfterFunc(timeout, func() {
		defer close(w.done)
		w.fired.Store(true)
		bark()
	})
	return w
}

// kick restarts the countdown, unless the watchdog has already barked.
func (w *watchdog) kick() {
	if w != nil && w.timer.Stop() {
		w.timer.Reset(w.timeout)
	}
}

// barked reports whether the watchdog has fired.
func (w *watchdog) barked() bool { return w != nil && w.fired.Load() }

// stop disarms the watchdog and waits for a bark in progress.
func (w *watchdog) stop() {
	if w != nil && !w.timer.Stop() {
		<-w.done
	}
}

// sendSymbols sends the symbols op: the server narrows the stream to symbols
// (an empty list: every symbol again) and acknowledges it in the stream. The
// write context comes from context.Background(): an expired write context
// makes the library close the connection, so it bounds the write and nothing
// else.
func sendSymbols(c *ws.Conn, symbols []string) error {
	if symbols == nil {
		symbols = []string{} // [] restores every symbol; null would not be a list
	}
	op, err := json.Marshal(symbolsOp{Op: opSymbols, Symbols: symbols})
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Write(wctx, ws.MessageText, op); err != nil {
		return fmt.Errorf("websocket: send symbols: %w", err)
	}
	return nil
}

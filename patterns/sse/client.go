package sse

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"commlab/shared"
)

// ErrRejected wraps the error Subscribe returns when the server answered 400
// Bad Request: the request itself is malformed, so asking again cannot help.
// Any other answer, even another 4xx, is retried: during a deploy a proxy can
// answer 404, 403 or 502 for a while.
var ErrRejected = errors.New("sse: request rejected")

var (
	errIdle        = errors.New("connection idle")
	errStreamEnded = errors.New("server ended the stream")
)

// ClientOptions tune Subscribe. A nil *ClientOptions means the defaults.
type ClientOptions struct {
	// Since resumes after this seq. Default 0: live ticks only, from the moment
	// the stream opens.
	Since uint64

	// IdleTimeout closes and reopens a connection that delivers nothing, not even
	// a heartbeat, for this long. Default 45s, three of the server's default
	// heartbeats; negative: never.
	IdleTimeout time.Duration

	// HTTPClient makes the requests; it must not have a Timeout, which would cut
	// every stream. Default: shared.NewHTTPClient(Stats), which counts the bytes
	// read into Stats.Bytes.
	HTTPClient *http.Client

	// Stats counts what the client sees; read it live. Default: a private one.
	Stats *shared.ClientStats

	// Log receives connection events at Info and every event at Debug.
	// Default: discard.
	Log *slog.Logger
}

// Subscribe reads the tick stream at baseURL's /api/sse until ctx ends; then it
// returns nil. fn is called on Subscribe's goroutine, in seq order, once per seq.
//
// When the connection breaks, the server ends the stream, or a connect fails,
// Subscribe waits a jittered backoff and reconnects with Last-Event-ID set to
// the last seq it delivered, as a browser's EventSource does; the server
// continues right after it. Subscribe returns an error only when retrying
// cannot help: baseURL is not an http(s) URL, or the server answered 400
// (ErrRejected).
func Subscribe(ctx context.Context, baseURL string, fn func(shared.Tick), opts *ClientOptions) error {
	var o ClientOptions
	if opts != nil {
		o = *opts
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = 45 * time.Second
	}
	if o.Stats == nil {
		o.Stats = new(shared.ClientStats)
	}
	if o.HTTPClient == nil {
		o.HTTPClient = shared.NewHTTPClient(o.Stats)
		defer o.HTTPClient.CloseIdleConnections() // our client: leave no idle connection behind
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	u, err := streamURL(baseURL, o.Since)
	if err != nil {
		return err
	}
	c := &client{
		url:    u,
		opts:   o,
		debug:  o.Log.Enabled(ctx, slog.LevelDebug),
		placed: o.Since > 0,
	}
	tracker := shared.NewTracker(o.Since, o.Stats)
	backoff := shared.Backoff{Min: 100 * time.Millisecond, Max: 5 * time.Second}
	for {
		delivered, err := c.stream(ctx, tracker, fn)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, ErrRejected) {
			return err
		}
		if delivered {
			backoff.Reset() // that connection worked: start again from a short wait
		}
		// The server's retry field, if it sent one, is the least wait it asks for.
		wait := max(backoff.Next(), c.retry)
		if se, ok := errors.AsType[*statusError](err); ok {
			o.Log.Info("connect failed", "pattern", "sse", "remote", u, "status", se.code, "err", err, "retry_in", wait)
		} else {
			o.Log.Info("disconnected", "pattern", "sse", "remote", u, "err", err, "retry_in", wait)
		}
		if shared.Sleep(ctx, wait) != nil {
			return nil
		}
	}
}

// streamURL is baseURL + /api/sse, with ?since=N when resuming. The URL never
// changes afterwards, like a browser's EventSource: later connects carry their
// place in the Last-Event-ID header, which the server prefers.
func streamURL(baseURL string, since uint64) (string, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return "", fmt.Errorf("sse: base URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("sse: base URL %q: want http or https", baseURL)
	}
	u = u.JoinPath("api", "sse")
	if since > 0 {
		q := u.Query()
		q.Set("since", strconv.FormatUint(since, 10))
		u.RawQuery = q.Encode()
	}
	return u.String(), nil
}

type client struct {
	url       string
	opts      ClientOptions
	debug     bool
	connected bool          // a connection has succeeded before: the next one is a reconnect
	placed    bool          // the tracker's Last is a place to resume from, even when it is 0
	retry     time.Duration // the server's last retry field
}

// stream makes one request and reads its events until the connection ends. It
// reports whether the connection delivered any event.
func (c *client) stream(ctx context.Context, tr *shared.Tracker, fn func(shared.Tick)) (delivered bool, err error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var idle *time.Timer
	if c.opts.IdleTimeout > 0 {
		// Silence longer than a few heartbeats means the connection is dead, even
		// if TCP has not noticed yet: cancel the request and reconnect.
		idle = time.AfterFunc(c.opts.IdleTimeout, func() { cancel(errIdle) })
		defer idle.Stop()
	}

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return false, fmt.Errorf("sse: %w", err)
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cache-Control", "no-cache")
	if c.placed {
		// After a reset to next 0 (the feed restarted) this is "0": the new
		// epoch's ticks from the first, not live ticks only.
		req.Header.Set("Last-Event-ID", strconv.FormatUint(tr.Last, 10))
	}
	c.opts.Stats.Requests.Add(1)
	resp, err := c.opts.HTTPClient.Do(req)
	if err != nil {
		return false, c.cause(ctx, err)
	}
	defer resp.Body.Close()
	if err := c.check(resp); err != nil {
		return false, err
	}
	if c.connected {
		c.opts.Stats.Reconnects.Add(1)
	}
	c.connected = true
	c.opts.Log.Info("connected", "pattern", "sse", "remote", c.url, "last", tr.Last)

	var body io.Reader = resp.Body
	if idle != nil {
		body = idleReader{r: resp.Body, timer: idle, d: c.opts.IdleTimeout}
	}
	rd := newEventReader(body)
	for {
		ev, err := rd.next()
		if rd.retry > 0 {
			c.retry = min(rd.retry, time.Minute)
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errStreamEnded
			}
			return delivered, c.cause(ctx, err)
		}
		switch ev.Type {
		case "tick":
			t, err := shared.ParseTick(ev.Data)
			if err != nil {
				c.opts.Log.Warn("dropped invalid tick event", "pattern", "sse", "remote", c.url, "id", ev.ID, "err", err)
				continue
			}
			delivered = true
			if c.debug {
				c.opts.Log.Debug("tick", "pattern", "sse", "seq", t.Seq)
			}
			c.placed = true
			if tr.Accept(t.Seq) {
				fn(t)
			}
		case shared.OpReset:
			var ctl shared.Control
			if err := json.Unmarshal(ev.Data, &ctl); err != nil {
				c.opts.Log.Warn("dropped invalid reset event", "pattern", "sse", "remote", c.url, "err", err)
				continue
			}
			delivered = true
			c.opts.Log.Info("server reset the sequence", "pattern", "sse", "remote", c.url,
				"last", tr.Last, "next", ctl.Next, "epoch", ctl.Epoch)
			tr.Reset(ctl.Next)
			c.placed = true
		default:
			// Unknown event types are skipped, so the server can add new ones.
			if c.debug {
				c.opts.Log.Debug("skipped event", "pattern", "sse", "type", ev.Type)
			}
		}
	}
}

// cause explains why a connection ended: an idle timeout shows up as a
// cancelled context, which would read as if the caller had stopped.
func (c *client) cause(ctx context.Context, err error) error {
	if errors.Is(context.Cause(ctx), errIdle) {
		return fmt.Errorf("sse: no data for %v: %w", c.opts.IdleTimeout, errIdle)
	}
	return fmt.Errorf("sse: %w", err)
}

// check accepts a 200 event stream. A 400 is the server refusing our request
// (ErrRejected); any other answer is a *statusError, worth trying again.
func (c *client) check(resp *http.Response) error {
	ct := resp.Header.Get("Content-Type")
	if resp.StatusCode == http.StatusOK {
		if mt, _, err := mime.ParseMediaType(ct); err == nil && mt == "text/event-stream" {
			return nil
		}
		return &statusError{code: resp.StatusCode, msg: fmt.Sprintf("Content-Type %q, not an event stream", ct)}
	}
	msg := errorMessage(resp.Body)
	if resp.StatusCode == http.StatusBadRequest {
		return fmt.Errorf("%w: %s: %s", ErrRejected, resp.Status, msg)
	}
	return &statusError{code: resp.StatusCode, msg: msg}
}

// statusError is an answer that is not an event stream, and may be one later:
// a proxy's error page during a deploy, an overloaded server's 503.
type statusError struct {
	code int
	msg  string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("sse: %d %s: %s", e.code, http.StatusText(e.code), e.msg)
}

// errorMessage reads the contract's {"error": "..."} body, or the start of
// whatever else came.
func errorMessage(body io.Reader) string {
	b, err := io.ReadAll(io.LimitReader(body, 4096))
	if err != nil {
		return fmt.Sprintf("(reading the body: %v)", err)
	}
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(b, &e) == nil && e.Error != "" {
		return e.Error
	}
	return strings.TrimSpace(string(b))
}

// idleReader pushes the idle timer back each time bytes arrive.
type idleReader struct {
	r     io.Reader
	timer *time.Timer
	d     time.Duration
}

func (ir idleReader) Read(p []byte) (int, error) {
	n, err := ir.r.Read(p)
	if n > 0 {
		ir.timer.Reset(ir.d)
	}
	return n, err
}

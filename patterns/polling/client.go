package polling

import (
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

	"commlab/shared"
)

// ErrRejected wraps the error Poll returns when the server refused a request as
// malformed (400 Bad Request): asking again the same way cannot help. Every
// other failure, other 4xx included (a proxy may answer 404 or 403 during a
// deploy), is retried after a backoff.
var ErrRejected = errors.New("polling: request rejected")

// requestTimeout bounds one request beyond the time the server may hold it, so a
// connection that silently died is noticed instead of waited on forever.
const requestTimeout = 10 * time.Second

// Options tune Poll. A nil *Options means the defaults.
type Options struct {
	// Interval is the short-polling period: the pause between one response and the
	// next request. Default 1s. Unused when Wait > 0.
	Interval time.Duration

	// Wait > 0 switches to long polling: every request asks the server to hold it
	// for up to Wait (at most MaxWait) until a tick arrives, and the next request
	// goes out as soon as a response does. Default 0: short polling.
	Wait time.Duration

	// Limit caps the ticks in one response, 1 to MaxLimit. Default 0: the
	// server's default, DefaultLimit.
	Limit int

	// Since resumes after this seq. Default 0: start from now; a short poll first
	// gets the newest tick, a long poll the first tick after it.
	Since uint64

	// HTTPClient makes the requests. Default: shared.NewHTTPClient(Stats), which
	// counts the bytes read into Stats.Bytes.
	HTTPClient *http.Client

	// Stats counts what the client sees; read it live. Default: a private one.
	Stats *shared.ClientStats

	// Log receives connection events at Info and every response at Debug.
	// Default: discard.
	Log *slog.Logger
}

// maxRetryAfter caps the wait a Retry-After can impose on Poll.
const maxRetryAfter = time.Minute

// Poll asks baseURL's /api/poll for ticks, again and again, until ctx ends; then it
// returns nil. fn is called on Poll's goroutine, in seq order, once per seq.
//
// Each request carries since = the last seq delivered, so the server keeps no
// state about the client: a failed request is simply asked again, after a
// jittered backoff, and resumes where the last good one ended. Poll returns an
// error wrapping ErrRejected only when the server refuses the request itself.
func Poll(ctx context.Context, baseURL string, fn func(shared.Tick), opts *Options) error {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Interval <= 0 {
		o.Interval = time.Second
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
	limit := o.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	pattern := "poll"
	if o.Wait > 0 {
		pattern = "longpoll"
	}
	endpoint := strings.TrimSuffix(baseURL, "/") + "/api/poll"
	// A bad base URL is a failure that retrying cannot mend: report it now.
	u, err := url.Parse(endpoint)
	if err != nil {
		return fmt.Errorf("polling: base URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("polling: base URL %q: want http:// or https://", baseURL)
	}
	log := o.Log.With("pattern", pattern, "remote", endpoint)

	tracker := shared.NewTracker(o.Since, o.Stats)
	backoff := shared.Backoff{Min: 100 * time.Millisecond, Max: 5 * time.Second}
	failing := false
	// Only the very first request of a client that names no Since goes without
	// one, to learn where the feed is; after that the client always says where it
	// is, even at 0 (a reset to the start of a new feed).
	hasSince := o.Since > 0
	for {
		p, err := fetch(ctx, &o, endpoint, tracker.Last, hasSince)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, ErrRejected) {
			return err
		}
		if err != nil {
			failing = true
			// A server that says when to come back (429 or 503 with Retry-After)
			// is not asked sooner, up to a point: a proxy's Retry-After of a
			// day must not park the client for a day. Otherwise our own
			// jittered backoff decides.
			wait := max(backoff.Next(), min(p.retryAfter, maxRetryAfter))
			log.Info("poll: request failed", "err", err, "retry_in", wait)
			if shared.Sleep(ctx, wait) != nil {
				return nil
			}
			continue
		}
		if failing {
			failing = false
			o.Stats.Reconnects.Add(1)
			log.Info("poll: reconnected", "since", tracker.Last)
		}
		backoff.Reset()
		hasSince = true
		log.Debug("poll: response", "ticks", len(p.ticks), "next", p.next, "reset", p.reset)
		deliver(p, tracker, fn)

		switch {
		case o.Wait > 0:
			// Long polling: ask again at once; the server does the waiting.
		case len(p.ticks) >= limit:
			// A full page: more ticks are waiting, so catch up now, not next interval.
		default:
			if shared.Sleep(ctx, o.Interval) != nil {
				return nil
			}
		}
	}
}

// deliver hands a page's ticks to fn, each seq once.
func deliver(p page, tracker *shared.Tracker, fn func(shared.Tick)) {
	if p.reset {
		// The ticks right after our since are gone, or the feed restarted: the
		// tracker counts what was lost, and we go on from where the server says,
		// just before the page's first tick.
		after := p.next
		if len(p.ticks) > 0 {
			after = p.ticks[0].Seq - 1
		}
		tracker.Reset(after)
	}
	for _, t := range p.ticks {
		if tracker.Accept(t.Seq) {
			fn(t)
		}
	}
}

// page is one decoded response.
type page struct {
	ticks []shared.Tick
	next  uint64
	reset bool

	// retryAfter is set on a failed request only: how long the server asked
	// us to wait before asking again (0: it did not say).
	retryAfter time.Duration
}

// fetch makes one request for the ticks after since, or without hasSince for
// the newest tick.
func fetch(ctx context.Context, o *Options, endpoint string, since uint64, hasSince bool) (page, error) {
	q := url.Values{}
	if hasSince {
		q.Set("since", strconv.FormatUint(since, 10))
	}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	if o.Wait > 0 {
		q.Set("wait", o.Wait.String())
	}
	ctx, cancel := context.WithTimeout(ctx, o.Wait+requestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint+"?"+q.Encode(), nil)
	if err != nil {
		return page{}, fmt.Errorf("polling: %w", err)
	}
	o.Stats.Requests.Add(1)
	resp, err := o.HTTPClient.Do(req)
	if err != nil {
		return page{}, fmt.Errorf("polling: %w", err)
	}
	defer resp.Body.Close()
	// Read the body to the end, so the connection can carry the next request.
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return page{}, fmt.Errorf("polling: read response: %w", err)
	}

	switch code := resp.StatusCode; {
	case code == http.StatusOK:
	case code == http.StatusBadRequest:
		return page{}, fmt.Errorf("%w: %s: %s", ErrRejected, resp.Status, errorMessage(body))
	case code >= 400:
		return page{retryAfter: retryAfter(resp, time.Now())},
			fmt.Errorf("polling: %s: %s", resp.Status, errorMessage(body))
	default:
		return page{}, fmt.Errorf("polling: unexpected %s", resp.Status)
	}

	var wire struct {
		Ticks []json.RawMessage `json:"ticks"`
		Next  uint64            `json:"next"`
		Reset bool              `json:"reset"`
	}
	if err := json.Unmarshal(body, &wire); err != nil {
		return page{}, fmt.Errorf("polling: decode response: %w", err)
	}
	p := page{ticks: make([]shared.Tick, 0, len(wire.Ticks)), next: wire.Next, reset: wire.Reset}
	for _, raw := range wire.Ticks {
		t, err := shared.ParseTick(raw) // keeps the exact bytes in t.Raw
		if err != nil {
			return page{}, fmt.Errorf("polling: %w", err)
		}
		p.ticks = append(p.ticks, t)
	}
	return p, nil
}

// errorMessage extracts the contract's {"error": "..."} from an error response.
func errorMessage(body []byte) string {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		return e.Error
	}
	s := strings.TrimSpace(string(body))
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

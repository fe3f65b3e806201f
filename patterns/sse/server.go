package sse

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	r3sse "github.com/r3labs/sse/v2"

	"commlab/shared"
)

// Options tune Handler. A nil *Options means the defaults.
type Options struct {
	// Heartbeat is how often a comment line is sent, so that proxies and clients
	// can tell a quiet stream from a dead one. Default 15s.
	Heartbeat time.Duration

	// QueueLen is how many ticks may wait for one client: the length of its hub
	// subscription and of its r3labs stream buffer. A client further behind than
	// that is cut off and must reconnect, so it is also the longest burst of
	// ticks a client is sure to absorb. Default 256.
	QueueLen int

	// WriteTimeout bounds every write to a client: a client that accepts no bytes
	// for this long is cut off. Default 10s.
	WriteTimeout time.Duration
}

func (o *Options) withDefaults() Options {
	var out Options
	if o != nil {
		out = *o
	}
	if out.Heartbeat <= 0 {
		out.Heartbeat = 15 * time.Second
	}
	if out.QueueLen <= 0 {
		out.QueueLen = 256
	}
	if out.WriteTimeout <= 0 {
		out.WriteTimeout = 10 * time.Second
	}
	return out
}

// Handler serves GET /api/sse: every tick as an event with id = seq, resuming
// after the Last-Event-ID header (or ?since=N) when the request carries one.
func Handler(gw *shared.Gateway, stats *shared.PatternStats, log *slog.Logger, opts *Options) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &server{
		gw:         gw,
		stats:      stats,
		log:        log,
		opts:       opts.withDefaults(),
		sse:        r3sse.New(),
		subscribed: make(map[string]chan struct{}),
	}
	// AutoReplay (on by default) keeps every event ever published in an unbounded
	// log, replays it to each new client and overwrites our ids. The gateway's
	// history is the bounded replay log; r3labs only writes events.
	s.sse.AutoReplay = false
	s.sse.BufferSize = s.opts.QueueLen
	s.sse.Headers["X-Accel-Buffering"] = "no" // nginx would otherwise buffer the stream
	s.sse.OnSubscribe = s.onSubscribe
	return s
}

type server struct {
	gw    *shared.Gateway
	stats *shared.PatternStats
	log   *slog.Logger
	opts  Options
	sse   *r3sse.Server

	lastID     atomic.Uint64 // numbers the per-connection streams
	mu         sync.Mutex
	subscribed map[string]chan struct{} // stream id -> closed once r3labs registered its subscriber
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	shared.CountWritesAs(r, &s.stats.Bytes)
	s.stats.Requests.Add(1)
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		s.reject(w, r, http.StatusMethodNotAllowed, "method", "sse: only GET is allowed")
		return
	}
	// Validate here: r3labs would answer a bad Last-Event-ID itself, with a
	// text/plain 400 that breaks the contract's JSON errors.
	since, resume, reason, err := resumePoint(r)
	if err != nil {
		s.reject(w, r, http.StatusBadRequest, reason, err.Error())
		return
	}
	if r.Context().Err() != nil {
		// The server is shutting down (or the client already left). A stream
		// opened now would end at once; a 503 makes clients back off instead.
		s.writeError(w, r, http.StatusServiceUnavailable, "sse: server shutting down")
		return
	}
	s.serveStream(w, r, since, resume)
}

// reject answers a bad request with {"error": ...} and counts it in /metrics.
func (s *server) reject(w http.ResponseWriter, r *http.Request, status int, reason, msg string) {
	s.stats.Bad(reason)
	s.log.Info("sse: rejected request", "pattern", "sse", "remote", r.RemoteAddr, "reason", reason, "err", msg)
	s.writeError(w, r, status, msg)
}

func (s *server) writeError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	if err := http.NewResponseController(w).SetWriteDeadline(time.Now().Add(s.opts.WriteTimeout)); err != nil {
		s.log.Debug("sse: write deadline", "pattern", "sse", "remote", r.RemoteAddr, "err", err)
	}
	shared.WriteError(w, status, msg)
}

// resumePoint reads where the client wants to continue. The Last-Event-ID header
// wins over ?since=N: a browser reconnects to the same URL it first opened, so
// since still holds its first starting point while the header holds the last id
// it received. resume is false when neither is given: live ticks only.
func resumePoint(r *http.Request) (since uint64, resume bool, reason string, err error) {
	header := r.Header.Get("Last-Event-ID")
	if header != "" {
		if since, err = strconv.ParseUint(header, 10, 64); err != nil {
			return 0, false, "last_event_id", fmt.Errorf("sse: Last-Event-ID must be a tick seq (a non-negative integer), got %.32q", header)
		}
	}
	q := r.URL.Query()
	if q.Has("since") {
		v := q.Get("since")
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, false, "since", fmt.Errorf("sse: since must be a tick seq (a non-negative integer), got %.32q", v)
		}
		if header == "" {
			since = n
		}
	}
	return since, header != "" || q.Has("since"), "", nil
}

// serveStream runs one client's stream until the client leaves, is cut off, or
// the server shuts down.
func (s *server) serveStream(w http.ResponseWriter, r *http.Request, since uint64, resume bool) {
	id := "c" + strconv.FormatUint(s.lastID.Add(1), 10)
	ctx, cancel := context.WithCancelCause(r.Context())
	defer cancel(nil)
	c := &conn{
		server:  s,
		id:      id,
		remote:  r.RemoteAddr,
		rc:      http.NewResponseController(w),
		cancel:  cancel,
		flushed: make(chan struct{}, 1),
	}
	subscribed := make(chan struct{})
	s.mu.Lock()
	s.subscribed[id] = subscribed
	s.mu.Unlock()
	// One r3labs stream per connection: its fan-out blocks on the slowest
	// subscriber, so a stream shared by all clients lets one stuck client
	// freeze everyone.
	s.sse.CreateStream(id)

	s.stats.Connections.Add(1)
	s.stats.Clients.Add(1)
	if resume {
		s.log.Info("sse: client connected", "pattern", "sse", "remote", c.remote, "since", since)
	} else {
		s.log.Info("sse: client connected", "pattern", "sse", "remote", c.remote, "since", "live")
	}

	var pump sync.WaitGroup
	pump.Go(func() { c.pump(ctx, subscribed, since, resume) })

	// r3labs finds the stream by ?stream=. The clone carries our cancellable
	// context, which is how the pump kicks a slow client out of ServeHTTP. The
	// header is gone from it because resuming is our job, not r3labs'.
	r2 := r.Clone(ctx)
	r2.Header.Del("Last-Event-ID")
	q := r2.URL.Query()
	q.Set("stream", id)
	r2.URL.RawQuery = q.Encode()
	s.sse.ServeHTTP(writer{ResponseWriter: w, c: c}, r2)

	// ServeHTTP returns only after its subscriber has been removed, which
	// happens once ctx is done. Only now is it safe to remove the stream:
	// removing it earlier leaks r3labs' per-request goroutine.
	c.end(context.Canceled) // in case ServeHTTP returned on its own
	pump.Wait()
	s.sse.RemoveStream(id)
	s.mu.Lock()
	delete(s.subscribed, id)
	s.mu.Unlock()

	s.stats.Clients.Add(-1)
	s.stats.Disconnects.Add(1)
	s.log.Info("sse: client disconnected", "pattern", "sse", "remote", c.remote,
		"ticks", c.sent, "err", context.Cause(ctx))
}

// onSubscribe runs (on a goroutine of r3labs') once ServeHTTP has registered
// the connection's subscriber. Events published before that would go to no
// one, so the pump waits for this signal.
func (s *server) onSubscribe(streamID string, _ *r3sse.Subscriber) {
	s.mu.Lock()
	ch := s.subscribed[streamID]
	s.mu.Unlock()
	if ch != nil {
		close(ch) // one subscriber per stream: called once per id
	}
}

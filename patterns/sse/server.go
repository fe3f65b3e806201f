package sse

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
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
	o := opts.withDefaults()
	return &server{gw: gw, stats: stats, log: log, opts: o, r3: newR3labs(o.QueueLen)}
}

type server struct {
	gw     *shared.Gateway
	stats  *shared.PatternStats
	log    *slog.Logger
	opts   Options
	r3     *r3sse.Server // writes the events (r3labs.go)
	lastID atomic.Uint64 // numbers the r3labs streams, one per client
	events eventCache    // one event per tick, shared by every client (events.go)
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	shared.CountWritesAs(r, &s.stats.Bytes)
	s.stats.Requests.Add(1)
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		s.reject(w, r, http.StatusMethodNotAllowed, "method", "sse: only GET is allowed")
		return
	}
	query, err := shared.Query(r)
	if err != nil {
		s.reject(w, r, http.StatusBadRequest, "query", "sse: "+err.Error())
		return
	}
	since, resume, reason, err := resumePoint(r.Header, query)
	if err != nil {
		s.reject(w, r, http.StatusBadRequest, reason, err.Error())
		return
	}
	keep, err := parseSymbols(query) // the coding exercise: exercise_symbols.go
	if err != nil {
		s.reject(w, r, http.StatusBadRequest, "symbols", err.Error())
		return
	}
	if r.Context().Err() != nil {
		s.retryLater(w, r)
		return
	}
	s.serveStream(w, r, since, resume, keep)
}

// reject answers a bad request with {"error": ...} and counts it in /metrics.
func (s *server) reject(w http.ResponseWriter, r *http.Request, status int, reason, msg string) {
	s.stats.Bad(reason)
	s.log.Info("request rejected", "pattern", "sse", "remote", r.RemoteAddr, "reason", reason, "err", msg)
	s.setWriteDeadline(w, r)
	shared.WriteError(w, status, msg)
}

// shutdownRetry is the reconnect delay asked of clients that arrive while the
// server shuts down.
const shutdownRetry = 2 * time.Second

// retryLater answers a request that arrives while the server shuts down. An
// error status would make a browser's EventSource give up for good: it
// reconnects only after a 200 event stream, or a network error. So the answer
// is an event stream that only says "retry: 2000" and ends at once: the browser
// comes back in two seconds, to this server once it has restarted, or to
// another one behind the same address.
func (s *server) retryLater(w http.ResponseWriter, r *http.Request) {
	s.log.Info("client asked to retry later: shutting down", "pattern", "sse", "remote", r.RemoteAddr)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	s.setWriteDeadline(w, r)
	w.WriteHeader(http.StatusOK)
	if _, err := fmt.Fprintf(w, "retry: %d\n\n", shutdownRetry.Milliseconds()); err != nil {
		s.log.Debug("write retry", "pattern", "sse", "remote", r.RemoteAddr, "err", err)
	}
}

// setWriteDeadline bounds a short answer's write: a client that reads nothing
// must not hold the handler.
func (s *server) setWriteDeadline(w http.ResponseWriter, r *http.Request) {
	if err := http.NewResponseController(w).SetWriteDeadline(time.Now().Add(s.opts.WriteTimeout)); err != nil {
		s.log.Debug("write deadline", "pattern", "sse", "remote", r.RemoteAddr, "err", err)
	}
}

// resumePoint reads where the client wants to continue. The Last-Event-ID header
// wins over ?since=N: a browser reconnects to the same URL it first opened, so
// since still holds its first starting point while the header holds the last id
// it received. resume is false when neither is given: live ticks only.
func resumePoint(h http.Header, query url.Values) (since uint64, resume bool, reason string, err error) {
	header := h.Get("Last-Event-ID")
	if header != "" {
		if since, err = strconv.ParseUint(header, 10, 64); err != nil {
			return 0, false, "last_event_id", fmt.Errorf("sse: Last-Event-ID must be a tick seq (a non-negative integer), got %.32q", header)
		}
	}
	if query.Has("since") {
		v := query.Get("since")
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, false, "since", fmt.Errorf("sse: since must be a tick seq (a non-negative integer), got %.32q", v)
		}
		if header == "" {
			since = n
		}
	}
	return since, header != "" || query.Has("since"), "", nil
}

// serveStream runs one client's stream until the client leaves, falls behind,
// or the server shuts down. The stream's story is in stream.go; r3labs.go runs
// it on r3labs.
func (s *server) serveStream(w http.ResponseWriter, r *http.Request, since uint64, resume bool, keep func(symbol string) bool) {
	s.stats.Connections.Add(1)
	s.stats.Clients.Add(1)
	if resume {
		s.log.Info("client connected", "pattern", "sse", "remote", r.RemoteAddr, "since", since)
	} else {
		s.log.Info("client connected", "pattern", "sse", "remote", r.RemoteAddr, "since", "live")
	}

	events, cause := s.serve(w, r, func(ctx context.Context, out *conn) error {
		return s.stream(ctx, out, since, resume, keep)
	})

	s.stats.Clients.Add(-1)
	s.stats.Disconnects.Add(1)
	if errors.Is(cause, errSlowClient) {
		s.stats.SlowDisconnects.Add(1)
		s.log.Info("slow client cut off", "pattern", "sse", "remote", r.RemoteAddr, "reason", cause)
	}
	s.log.Info("client disconnected", "pattern", "sse", "remote", r.RemoteAddr, "events", events, "err", cause)
}

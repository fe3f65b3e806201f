package main

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"commlab/patterns/natspubsub"
	"commlab/patterns/natsqueue"
	"commlab/shared"
)

// version is the lab's version, shown by /api/info.
const version = "0.1.0"

// patternNames are the HTTP patterns whose server-side stats /api/stats shows.
var patternNames = []string{"poll", "longpoll", "sse", "ws"}

// handleInfo describes the running lab: what a client needs to start.
func (l *lab) handleInfo() http.Handler {
	type patternURL struct {
		URL         string `json:"url"`
		Description string `json:"description"`
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		base, wsBase := "http://"+r.Host, "ws://"+r.Host
		if r.TLS != nil {
			base, wsBase = "https://"+r.Host, "wss://"+r.Host
		}
		patterns := map[string]patternURL{
			"poll":     {base + "/api/poll?since=0", "short polling: ask again every interval"},
			"longpoll": {base + "/api/poll?since=0&wait=25s", "long polling: the server holds the request until a tick exists"},
			"sse":      {base + "/api/sse", "server-sent events: one HTTP response that never ends"},
			"ws":       {wsBase + "/api/ws", "WebSocket: one upgraded, full-duplex connection"},
			"pubsub":   {l.broker.URL(), "NATS subjects ticks.<SYMBOL>; ticks.> for all"},
		}
		if l.workPub != nil { // not with --nats-patterns=false: nothing is published to work.ticks
			patterns["queue"] = patternURL{l.broker.URL(), "NATS work.ticks: core queue group workers; JetStream stream TICKWORK, consumer workers"}
		}
		shared.WriteJSON(w, http.StatusOK, map[string]any{
			"version":  version,
			"epoch":    l.epoch(),
			"symbols":  l.feed.Symbols(),
			"rate":     l.feed.Rate(),
			"last_seq": l.gateway.History.Last(),
			"history":  l.cfg.history,
			// How long live ticks may wait before SSE and WebSocket clients
			// get them (--linger): it adds to their latency.
			"linger_ms": float64(l.cfg.linger) / float64(time.Millisecond),
			"patterns":  patterns,
		})
	})
}

// epoch is the epoch of the feed the gateway follows: the one in every reset
// control the patterns send. Before the first tick, the lab's own feed's.
func (l *lab) epoch() string {
	if e := l.gateway.Epoch(); e != "" {
		return e
	}
	return l.feed.Epoch()
}

// handleStats is the snapshot the dashboard reads: every pattern's server-side
// counters, plus the feed and gateway.
func (l *lab) handleStats() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		patterns := l.metrics.Snapshot()
		for _, name := range patternNames { // always present, even before any client
			if _, ok := patterns[name]; !ok {
				patterns[name] = shared.PatternSnapshot{}
			}
		}
		var pubsub []natspubsub.SubscriberSnapshot
		if l.pubsub != nil {
			pubsub = l.pubsub.Snapshot()
		}
		var queue *natsqueue.Snapshot
		if l.queue != nil {
			snap := l.queue.Snapshot(r.Context())
			queue = &snap
		}
		shared.WriteJSON(w, http.StatusOK, map[string]any{
			"pubsub":   pubsub,
			"queue":    queue,
			"time_us":  time.Now().UnixMicro(),
			"epoch":    l.epoch(),
			"rate":     l.feed.Rate(),
			"last_seq": l.gateway.History.Last(),
			"patterns": patterns,
			"gateway": map[string]any{
				"subscribers":      l.gateway.Hub.Len(),
				"invalid_messages": l.gateway.Invalid(),
			},
			"feed": map[string]any{
				"publish_errors": l.feed.PublishErrors(),
			},
		})
	})
}

// strictQuery reads a lab endpoint's query string as the contract asks: a
// malformed one is answered 400 and counted. ok is false when it has answered.
func strictQuery(w http.ResponseWriter, r *http.Request, stats *shared.PatternStats) (q url.Values, ok bool) {
	q, err := shared.Query(r)
	if err != nil {
		stats.Bad("query")
		shared.WriteError(w, http.StatusBadRequest, err.Error())
		return nil, false
	}
	return q, true
}

// handleRate changes the feed rate at run time: POST /api/rate?rate=N.
func (l *lab) handleRate() http.Handler {
	stats := l.metrics.Pattern("api")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rate, err := strconv.Atoi(r.URL.Query().Get("rate"))
		if err == nil {
			err = l.feed.SetRate(rate)
		}
		if err != nil {
			stats.Bad("rate")
			shared.WriteError(w, http.StatusBadRequest, fmt.Sprintf("rate must be a whole number of ticks/s from 0 to %d", shared.MaxRate))
			return
		}
		l.log.Info("feed rate changed", "rate", rate, "remote", r.RemoteAddr)
		shared.WriteJSON(w, http.StatusOK, map[string]int{"rate": rate})
	})
}

// handleQueue kills or revives one of the lab's queue workers:
// POST /api/queue/kill?worker=core-1, POST /api/queue/revive?worker=js-2.
// A kill closes the worker's NATS connection at once, as a crash would.
func (l *lab) handleQueue(action string) http.Handler {
	stats := l.metrics.Pattern("api")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if l.queue == nil {
			shared.WriteError(w, http.StatusNotFound, "this lab runs no queue workers")
			return
		}
		name := r.URL.Query().Get("worker")
		var (
			result any
			err    error
		)
		switch action {
		case "kill":
			result, err = l.queue.Kill(name)
		case "revive":
			err = l.queue.Revive(r.Context(), name)
			result = map[string]string{"revived": name}
		}
		if err != nil {
			stats.Bad("worker")
			shared.WriteError(w, http.StatusBadRequest, fmt.Sprintf("%s %q: %v (workers: %s)", action, name, err, strings.Join(l.queue.Names(), ", ")))
			return
		}
		l.log.Info("queue worker "+action, "worker", name, "remote", r.RemoteAddr)
		shared.WriteJSON(w, http.StatusOK, result)
	})
}

// handleHealthz answers 200 while the feed can publish and the broker is up.
func (l *lab) handleHealthz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !l.broker.Healthy(l.gwConn) || !l.feedConn.IsConnected() {
			http.Error(w, "nats unavailable", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprint(w, "ok")
	})
}

// handleNotFound answers unknown API paths in the contract's error format.
func (l *lab) handleNotFound() http.Handler {
	stats := l.metrics.Pattern("api")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		stats.Bad("path")
		shared.WriteError(w, http.StatusNotFound, "no such endpoint: "+r.URL.Path+" (see /api/info)")
	})
}

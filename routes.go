package main

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"commlab/patterns/polling"
	"commlab/patterns/sse"
	"commlab/patterns/websocket"
	"commlab/shared"
	"commlab/web"
)

// routes is the lab's whole HTTP surface, in one place.
func (l *lab) routes() http.Handler {
	m := l.metrics
	api := m.Pattern("api") // the lab's own endpoints: info, stats, rate, metrics
	mux := http.NewServeMux()

	// The patterns. Each one bounds its own writes and counts its own bytes.
	mux.Handle("/api/poll", polling.Handler(l.gateway, m.Pattern("poll"), m.Pattern("longpoll"), l.log))
	mux.Handle("/api/sse", l.faults.track("sse", sse.Handler(l.gateway, m.Pattern("sse"), l.log, &sse.Options{
		Heartbeat: l.cfg.sseHeartbeat,
		QueueLen:  l.cfg.queueLen,
	})))
	l.ws = websocket.Handler(l.gateway, m.Pattern("ws"), l.log, &websocket.Options{
		OriginPatterns: l.cfg.allowOrigins,
		PingInterval:   l.cfg.wsPing,
		QueueLen:       l.cfg.queueLen,
		Symbols:        l.feed.Symbols(),
	})
	mux.Handle("/api/ws", l.faults.track("ws", l.ws))

	// The lab's own endpoints and the dashboard: short answers.
	mux.Handle("/api/info", short(api, http.MethodGet, l.handleInfo()))
	mux.Handle("/api/stats", short(api, http.MethodGet, l.handleStats()))
	mux.Handle("/api/rate", short(api, http.MethodPost, l.handleRate()))
	mux.Handle("/api/queue/kill", short(api, http.MethodPost, l.handleQueue("kill")))
	mux.Handle("/api/queue/revive", short(api, http.MethodPost, l.handleQueue("revive")))
	mux.Handle("/api/wire", short(api, http.MethodGet, l.handleWire()))
	mux.Handle("/api/fault/slow", short(api, http.MethodPost, l.handleSlow()))
	mux.Handle("/healthz", short(api, http.MethodGet, l.handleHealthz()))
	mux.Handle("/metrics", short(api, http.MethodGet, promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})))
	mux.Handle("/api/", short(api, "", l.handleNotFound()))
	mux.Handle("/", short(api, http.MethodGet, web.Handler()))

	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A kept-alive connection may have served a pattern before: its bytes
		// from now on are the lab's own until a pattern handler claims them.
		shared.CountWritesAs(r, &api.Bytes)
		mux.ServeHTTP(w, r)
	})
}

// shortWriteTimeout bounds the answers of the lab's own endpoints. The server
// has no WriteTimeout, because streams must not be cut by one.
const shortWriteTimeout = 10 * time.Second

// short wraps an endpoint whose answer is written at once: it allows only method
// (GET also allows HEAD; "" allows any), and bounds the write.
func short(stats *shared.PatternStats, method string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		stats.Requests.Add(1)
		allowed := method == "" || r.Method == method || (method == http.MethodGet && r.Method == http.MethodHead)
		if !allowed {
			stats.Bad("method")
			w.Header().Set("Allow", method)
			shared.WriteError(w, http.StatusMethodNotAllowed, "use "+method+" "+r.URL.Path)
			return
		}
		// A POST with no body is a "simple" cross-origin request that any web
		// page could send: only the lab's own pages may change the lab.
		if origin := r.Header.Get("Origin"); r.Method == http.MethodPost && origin != "" && !sameOrigin(origin, r.Host) {
			stats.Bad("origin")
			shared.WriteError(w, http.StatusForbidden, fmt.Sprintf("origin %q may not %s %s", origin, r.Method, r.URL.Path))
			return
		}
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(shortWriteTimeout))
		h.ServeHTTP(w, r)
	})
}

func sameOrigin(origin, host string) bool {
	u, err := url.Parse(origin)
	return err == nil && strings.EqualFold(u.Host, host)
}

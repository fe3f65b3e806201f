package main

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"commlab/patterns/polling"
	"commlab/patterns/sse"
	"commlab/patterns/websocket"
	"commlab/web"
)

// routes is the lab's whole HTTP surface, in one place.
func (l *lab) routes() http.Handler {
	m := l.metrics
	mux := http.NewServeMux()
	mux.Handle("/", web.Handler()) // the dashboard: index.html and its modules

	mux.Handle("/api/poll", polling.Handler(l.gateway, m.Pattern("poll"), m.Pattern("longpoll"), l.log))
	mux.Handle("/api/sse", sse.Handler(l.gateway, m.Pattern("sse"), l.log, &sse.Options{
		Heartbeat: l.cfg.sseHeartbeat,
		QueueLen:  l.cfg.queueLen,
	}))
	mux.Handle("/api/ws", websocket.Handler(l.gateway, m.Pattern("ws"), l.log, &websocket.Options{
		OriginPatterns: l.cfg.allowOrigins,
		PingInterval:   l.cfg.wsPing,
		QueueLen:       l.cfg.queueLen,
		Symbols:        l.feed.Symbols(),
	}))

	mux.Handle("GET /api/info", l.handleInfo())
	mux.Handle("GET /api/stats", l.handleStats())
	mux.Handle("/api/rate", l.handleRate())
	mux.Handle("GET /healthz", l.handleHealthz())
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
	mux.Handle("/api/", l.handleNotFound())
	return mux
}

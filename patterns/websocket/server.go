package websocket

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	ws "github.com/coder/websocket"

	"commlab/shared"
)

// Options tune the server side; nil means the defaults.
type Options struct {
	// OriginPatterns lists the other origins whose pages may open a WebSocket:
	// path.Match patterns matched case-insensitively against the Origin's host,
	// or against scheme://host when the pattern contains "://", exactly as
	// coder/websocket's AcceptOptions.OriginPatterns. A request without an Origin
	// header (not a browser) and a same-origin request are always allowed.
	// Default: none.
	OriginPatterns []string

	// ReadLimit caps one client message, in bytes; a bigger one closes the
	// connection with 1009 (message too big). Default 4096: client messages are
	// tiny, and a limit is what stops one client from making the server buffer
	// megabytes.
	ReadLimit int64

	// PingInterval is how often the server pings each client. A peer that does
	// not answer within WriteTimeout is dropped: that is how a client that
	// vanished without closing its TCP connection is noticed. Default 20s.
	PingInterval time.Duration

	// QueueLen is how many ticks may wait in the hub for one connection before
	// it is cut off as a slow consumer. Default 256.
	QueueLen int

	// WriteTimeout bounds every write: a batch of frames, a ping, a close. A
	// peer that does not take its bytes in time is cut off as a slow consumer.
	// Default 5s.
	WriteTimeout time.Duration

	// Symbols are the symbols a client may ask for with the symbols op.
	// Default shared.DefaultSymbols, the feed's symbols.
	Symbols []string
}

func (o *Options) withDefaults() Options {
	var d Options
	if o != nil {
		d = *o
	}
	if d.ReadLimit <= 0 {
		d.ReadLimit = 4096
	}
	if d.PingInterval <= 0 {
		d.PingInterval = 20 * time.Second
	}
	if d.QueueLen <= 0 {
		d.QueueLen = 256
	}
	if d.WriteTimeout <= 0 {
		d.WriteTimeout = 5 * time.Second
	}
	if len(d.Symbols) == 0 {
		d.Symbols = shared.DefaultSymbols
	}
	return d
}

const (
	// replayBatch is how many held ticks a resuming client is sent per step.
	replayBatch = 500
	// closeWait is how long a close handshake may take before the TCP
	// connection is cut under it.
	closeWait = time.Second
	// opSymbols is the one op a client may send. The server answers with the
	// same object as an acknowledgement; every tick after the ack is filtered.
	opSymbols = "symbols"
)

// symbolsOp is the client's {"op":"symbols","symbols":["ACME"]}, which narrows
// its stream to those symbols (an empty list restores all), and the server's
// acknowledgement of it.
type symbolsOp struct {
	Op      string   `json:"op"`
	Symbols []string `json:"symbols"`
}

// server holds what every connection needs.
type server struct {
	gw    *shared.Gateway
	stats *shared.PatternStats
	log   *slog.Logger
	opts  Options
	known map[string]bool // symbols a client may ask for
}

// Handler serves GET /api/ws: one WebSocket per client, one text frame per tick
// holding the tick's JSON, resuming after ?since=N as SSE does. A nil opts means
// the defaults.
func Handler(gw *shared.Gateway, stats *shared.PatternStats, log *slog.Logger, opts *Options) http.Handler {
	s := &server{gw: gw, stats: stats, log: log, opts: opts.withDefaults(), known: make(map[string]bool)}
	for _, sym := range s.opts.Symbols {
		s.known[sym] = true
	}
	return s
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	shared.CountWritesAs(r, &s.stats.Bytes)
	s.stats.Requests.Add(1)

	// Everything that can be refused is refused before the upgrade, while an
	// HTTP status and a JSON body can still say why.
	if !isUpgrade(r) {
		// A plain GET (a browser tab, curl without the upgrade headers).
		w.Header().Set("Upgrade", "websocket")
		s.reject(w, r, http.StatusUpgradeRequired, "handshake",
			"this is a WebSocket endpoint: send GET with Connection: Upgrade and Upgrade: websocket")
		return
	}
	since, resume, err := parseSince(r)
	if err != nil {
		s.reject(w, r, http.StatusBadRequest, "since", err.Error())
		return
	}
	// Accept runs this same check, but answers with a plain-text 403 that we
	// could not count. The check protects browser users: without it, any page
	// they visit could open a WebSocket here with their cookies.
	if !originAllowed(r, s.opts.OriginPatterns) {
		s.reject(w, r, http.StatusForbidden, "origin",
			fmt.Sprintf("origin %q is not allowed (the lab's --allow-origin adds origins)", r.Header.Get("Origin")))
		return
	}

	// Subscribe before the handshake: a client that has seen the 101 is already
	// in the fan-out, so nothing published from then on can be missed. Without
	// since, the client gets the ticks after the newest one held now; the
	// gateway stores a tick before fanning it out, so the subscription may
	// still bring that one, and it is skipped as if already sent.
	sub := s.gw.Hub.Subscribe(s.opts.QueueLen)
	defer sub.Close()
	if !resume {
		since = s.gw.History.Last()
	}

	// Accept hijacks the connection: the request is over as far as net/http is
	// concerned, and its context is no longer about this client. Its parent is
	// the server's base context, which ends at shutdown; keep it for that.
	shutdown := r.Context()
	hj := &hijackRecorder{ResponseWriter: w}
	c, err := ws.Accept(hj, r, &ws.AcceptOptions{OriginPatterns: s.opts.OriginPatterns})
	if err != nil {
		// Not a WebSocket handshake (a plain GET, a POST...); Accept has answered.
		s.stats.Bad("handshake")
		s.log.Info("websocket: handshake refused", "pattern", s.stats.Name, "remote", r.RemoteAddr, "err", err)
		return
	}
	s.stats.Connections.Add(1)
	s.stats.Clients.Add(1)
	s.log.Info("websocket: client connected", "pattern", s.stats.Name, "remote", r.RemoteAddr, "since", r.URL.Query().Get("since"))

	conn := &session{server: s, c: c, tcp: hj.conn, remote: r.RemoteAddr}
	err = conn.serve(shutdown, sub, since, resume)

	s.stats.Clients.Add(-1)
	s.stats.Disconnects.Add(1)
	s.log.Info("websocket: client disconnected", "pattern", s.stats.Name, "remote", r.RemoteAddr, "err", err)
}

// reject answers a request that cannot become a WebSocket with {"error": ...},
// counts it in /metrics and logs it.
func (s *server) reject(w http.ResponseWriter, r *http.Request, status int, reason, msg string) {
	s.stats.Bad(reason)
	s.log.Info("websocket: rejected request", "pattern", s.stats.Name, "remote", r.RemoteAddr, "reason", reason, "err", msg)
	shared.WriteError(w, status, msg)
}

// isUpgrade reports whether r asks for the WebSocket upgrade.
func isUpgrade(r *http.Request) bool {
	return headerHasToken(r.Header, "Connection", "upgrade") && headerHasToken(r.Header, "Upgrade", "websocket")
}

func headerHasToken(h http.Header, key, token string) bool {
	for _, v := range h.Values(key) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// session is one client's connection. The handler goroutine runs serve and is
// the only writer of ticks; fields below c are its own.
type session struct {
	*server
	c      *ws.Conn
	tcp    net.Conn // the hijacked connection under c, to cut a stuck close short
	remote string

	symbols map[string]bool // the client's filter; nil: every symbol
	last    uint64          // newest seq sent or skipped; older live ticks were replayed already
	batch   []*shared.Tick
}

// badFrame is a client message the server refuses. The connection is closed
// with code and reason, and reason is counted as bad input.
type badFrame struct {
	code   ws.StatusCode
	reason string // a stable label: "invalid_json", "unknown_op", ...
}

func (b *badFrame) Error() string { return "bad frame: " + b.reason }

// serve runs the connection until it ends and says why it ended.
func (s *session) serve(shutdown context.Context, sub *shared.Subscription, since uint64, resume bool) error {
	defer s.c.CloseNow() // whatever happened, release the connection
	s.c.SetReadLimit(s.opts.ReadLimit)

	// Two helpers run beside this goroutine, which does all the writing: a
	// reader (the client sends ops, and only reading handles pongs and close
	// frames) and a pinger. Each reports why it stopped on its channel; both
	// stop when helpers is cancelled, and serve waits for them.
	helpers, stop := context.WithCancel(context.Background())
	ops := make(chan symbolsOp)
	readErr := make(chan error, 1)
	pingErr := make(chan error, 1)
	var wg sync.WaitGroup
	wg.Go(func() { readErr <- s.read(helpers, ops) })
	wg.Go(func() { pingErr <- s.ping(helpers) })
	defer func() {
		stop()
		wg.Wait()
	}()

	s.last = since
	if resume {
		if err := s.replay(); err != nil {
			return s.writeFailed(err)
		}
	}
	for {
		select {
		case <-shutdown.Done():
			s.close(ws.StatusGoingAway, "server shutting down")
			return errors.New("server shutting down")

		case <-sub.Done():
			if err := sub.Err(); !errors.Is(err, shared.ErrSlowConsumer) {
				// The feed restarted: the client reconnects with its since and
				// is told to reset.
				s.close(ws.StatusServiceRestart, "feed restarted")
				return err
			}
			s.stats.SlowDisconnects.Add(1)
			s.log.Info("websocket: slow consumer cut off", "pattern", s.stats.Name, "remote", s.remote, "reason", "queue full")
			s.close(ws.StatusTryAgainLater, "slow consumer")
			return shared.ErrSlowConsumer

		case t := <-sub.C:
			// Coalesce: whatever queued up while this goroutine slept or wrote
			// goes out now, back to back, under one deadline.
			s.batch = append(s.batch[:0], t)
			for len(s.batch) < s.opts.QueueLen && len(sub.C) > 0 {
				s.batch = append(s.batch, <-sub.C)
			}
			if err := s.send(s.batch, true); err != nil {
				return s.writeFailed(err)
			}

		case op := <-ops:
			if err := s.setSymbols(op); err != nil {
				return s.writeFailed(err)
			}

		case err := <-readErr:
			var bad *badFrame
			if errors.As(err, &bad) {
				s.stats.Bad(bad.reason)
				s.log.Info("websocket: bad frame", "pattern", s.stats.Name, "remote", s.remote, "reason", bad.reason)
				s.close(bad.code, bad.reason)
			}
			// Otherwise the client closed, or the connection broke: there is
			// nobody left to tell.
			return fmt.Errorf("read: %w", err)

		case err := <-pingErr:
			// No pong in time: the peer is gone or stuck; a close handshake
			// would only wait on it too. The deferred CloseNow drops it.
			return fmt.Errorf("ping: %w", err)
		}
	}
}

// replay sends the held ticks after the client's since, in batches, before any
// live tick. Live ticks queue in the subscription meanwhile; send skips those
// the replay already covered, so the client sees every seq once.
func (s *session) replay() error {
	buf := make([]*shared.Tick, 0, replayBatch)
	for {
		ticks, after, reset := s.gw.History.Since(s.last, replayBatch, buf[:0])
		if reset {
			// The ticks right after the client's since are gone: say so before
			// anything that follows, so the client knows where it now stands.
			ctl := shared.Control{Op: shared.OpReset, Epoch: s.gw.Epoch(), Next: after}
			if err := s.sendJSON(ctl); err != nil {
				return err
			}
			s.last = after
		}
		if len(ticks) == 0 {
			return nil
		}
		if err := s.send(ticks, false); err != nil {
			return err
		}
		if len(ticks) < replayBatch {
			return nil
		}
	}
}

// send writes one text frame per tick, skipping ticks already sent and symbols
// the client did not ask for. The frames go out back to back under one
// deadline: the whole batch must leave within WriteTimeout. The context comes
// from context.Background(), not from the request: when it expires the library
// closes the connection, and that is meant only for a peer that stopped reading.
func (s *session) send(ticks []*shared.Tick, live bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.WriteTimeout)
	defer cancel()
	var oldest *shared.Tick
	for _, t := range ticks {
		if t.Seq <= s.last {
			continue // sent during the replay
		}
		s.last = t.Seq
		// The filter lives here, in this client's writer, never in the hub: the
		// hub does the same cheap work for everyone.
		if s.symbols != nil && !s.symbols[t.Symbol] {
			continue
		}
		if err := s.c.Write(ctx, ws.MessageText, t.Raw); err != nil {
			return err
		}
		s.stats.Messages.Add(1)
		if oldest == nil {
			oldest = t
		}
	}
	// Replayed ticks are old on purpose; their age is not delivery latency.
	if live && oldest != nil {
		s.stats.ObserveLatency(oldest, time.Now())
	}
	return nil
}

// sendJSON writes one control message.
func (s *session) sendJSON(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.WriteTimeout)
	defer cancel()
	return s.c.Write(ctx, ws.MessageText, b)
}

// setSymbols applies the client's symbols op and acknowledges it. The ack is
// written by the same goroutine as the ticks, so every tick after it is filtered.
func (s *session) setSymbols(op symbolsOp) error {
	s.symbols = nil
	if len(op.Symbols) > 0 {
		s.symbols = make(map[string]bool, len(op.Symbols))
		for _, sym := range op.Symbols {
			s.symbols[sym] = true
		}
	}
	s.log.Debug("websocket: symbols", "pattern", s.stats.Name, "remote", s.remote, "symbols", op.Symbols)
	ack := symbolsOp{Op: opSymbols, Symbols: op.Symbols}
	if ack.Symbols == nil {
		ack.Symbols = []string{} // [] in JSON, not null
	}
	return s.sendJSON(ack)
}

// writeFailed tells a peer that did not take its bytes in time from one that is
// gone. An expired write deadline has already made the library close the
// connection: that is the cut-off for a client that stopped reading, whose TCP
// buffers are full, before its hub queue even filled.
func (s *session) writeFailed(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		s.stats.SlowDisconnects.Add(1)
		s.log.Info("websocket: slow consumer cut off", "pattern", s.stats.Name, "remote", s.remote, "reason", "write timeout")
	}
	return fmt.Errorf("write: %w", err)
}

// read is the reader goroutine. It hands each valid op to the writer and
// returns the first error: a *badFrame, the client's close, or a broken
// connection. Reading with ctx means that cancelling it closes the connection.
func (s *session) read(ctx context.Context, ops chan<- symbolsOp) error {
	for {
		typ, data, err := s.c.Read(ctx)
		if errors.Is(err, ws.ErrMessageTooBig) {
			// The library has already sent the close frame, 1009 with its own reason.
			return &badFrame{code: ws.StatusMessageTooBig, reason: "too_big"}
		}
		if err != nil {
			return err
		}
		op, bad := s.parseOp(typ, data)
		if bad != nil {
			return bad
		}
		select {
		case ops <- op:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// parseOp checks one client message; the only valid one is the symbols op.
func (s *session) parseOp(typ ws.MessageType, data []byte) (symbolsOp, *badFrame) {
	var op symbolsOp
	if typ != ws.MessageText {
		return op, &badFrame{code: ws.StatusUnsupportedData, reason: "binary_frame"}
	}
	if err := json.Unmarshal(data, &op); err != nil {
		return op, &badFrame{code: ws.StatusInvalidFramePayloadData, reason: "invalid_json"}
	}
	if op.Op != opSymbols {
		return op, &badFrame{code: ws.StatusPolicyViolation, reason: "unknown_op"}
	}
	for _, sym := range op.Symbols {
		if !s.known[sym] {
			return op, &badFrame{code: ws.StatusPolicyViolation, reason: "unknown_symbol"}
		}
	}
	return op, nil
}

// ping is the pinger goroutine: every PingInterval it pings and waits for the
// pong, so a peer that vanished without closing (a laptop gone to sleep, a
// dropped NAT mapping) is noticed even when no tick is flowing. It runs apart
// from the writer so that waiting for a pong never delays a tick.
func (s *session) ping(ctx context.Context) error {
	t := time.NewTicker(s.opts.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, s.opts.WriteTimeout)
		err := s.c.Ping(pctx)
		cancel()
		if err != nil {
			return err
		}
	}
}

// close ends the connection with the close handshake: send code and reason,
// wait for the peer's close frame. The library allows a stuck peer 5s for the
// write and 5s for the answer, and CloseNow cannot interrupt a Close in
// progress; so after closeWait the TCP connection is cut under it.
func (s *session) close(code ws.StatusCode, reason string) {
	cut := make(chan struct{})
	timer := time.AfterFunc(closeWait, func() {
		defer close(cut)
		_ = s.tcp.Close()
	})
	err := s.c.Close(code, reason)
	if !timer.Stop() {
		<-cut // the cut ran: wait for it, so nothing outlives the handler
	}
	if err != nil {
		s.log.Debug("websocket: close handshake", "pattern", s.stats.Name, "remote", s.remote, "err", err)
	}
}

// parseSince reads ?since=N. resume is false without one: the client wants
// live ticks only.
func parseSince(r *http.Request) (since uint64, resume bool, err error) {
	q := r.URL.Query()
	if !q.Has("since") {
		return 0, false, nil
	}
	since, err = strconv.ParseUint(q.Get("since"), 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("since must be a tick seq (a non-negative integer), got %q", q.Get("since"))
	}
	return since, true, nil
}

// originAllowed applies coder/websocket's origin rule: no Origin header (not a
// browser), an Origin whose host is the request's Host, or one that matches a
// pattern.
func originAllowed(r *http.Request, patterns []string) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	for _, p := range patterns {
		target := u.Host
		if strings.Contains(p, "://") {
			target = u.Scheme + "://" + u.Host
		}
		if ok, err := path.Match(strings.ToLower(p), strings.ToLower(target)); ok && err == nil {
			return true
		}
	}
	return false
}

// hijackRecorder keeps the TCP connection Accept takes over, so that close can
// cut it when the peer does not answer the close handshake.
type hijackRecorder struct {
	http.ResponseWriter
	conn net.Conn
}

func (h *hijackRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, rw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	h.conn = conn
	return conn, rw, err
}

func (h *hijackRecorder) Unwrap() http.ResponseWriter { return h.ResponseWriter }

package websocket

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
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
	// vanished without closing its TCP connection is noticed. The pings are
	// also how a client notices a server that vanished. Default 20s.
	PingInterval time.Duration

	// QueueLen is how many live ticks may wait in the hub for one connection
	// before it is cut off as a slow consumer. Default 256.
	QueueLen int

	// WriteTimeout bounds every write to the network: a frame, a batch of
	// frames sent in one write, a ping. A peer that does not take its bytes in
	// time is cut off as a slow consumer. (The close handshake has a bound of
	// its own, closeWait.) Default 5s.
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
)

// Server serves GET /api/ws. It is an http.Handler; at shutdown, Wait waits
// for the connections it has taken over.
type Server struct {
	gw    *shared.Gateway
	stats *shared.PatternStats
	log   *slog.Logger
	opts  Options
	known map[string]bool // symbols a client may ask for

	mu      sync.Mutex
	open    int           // sessions in progress
	allDone chan struct{} // closed while open is 0
}

// Handler returns the server for GET /api/ws: one WebSocket per client, one
// text frame per tick holding the tick's JSON, resuming after ?since=N as SSE
// does. A nil opts means the defaults.
func Handler(gw *shared.Gateway, stats *shared.PatternStats, log *slog.Logger, opts *Options) *Server {
	s := &Server{gw: gw, stats: stats, log: log, opts: opts.withDefaults(), known: make(map[string]bool)}
	for _, sym := range s.opts.Symbols {
		s.known[sym] = true
	}
	s.allDone = make(chan struct{})
	close(s.allDone)
	return s
}

// Wait returns once every session in progress has ended, or with an error
// when ctx ends first. Call it after http.Server.Shutdown, which does not wait
// for hijacked connections, and a WebSocket is one: without Wait the process
// could exit while a session is still sending its 1001 close.
func (s *Server) Wait(ctx context.Context) error {
	s.mu.Lock()
	allDone := s.allDone
	s.mu.Unlock()
	select {
	case <-allDone:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		open := s.open
		s.mu.Unlock()
		return fmt.Errorf("websocket: %d sessions still open: %w", open, ctx.Err())
	}
}

// sessionStarted and sessionEnded count the sessions in progress for Wait.
func (s *Server) sessionStarted() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.open == 0 {
		s.allDone = make(chan struct{})
	}
	s.open++
}

func (s *Server) sessionEnded() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.open--
	if s.open == 0 {
		close(s.allDone)
	}
}

// ServeHTTP serves one client: it refuses what it can before the upgrade,
// subscribes, accepts the WebSocket and runs the session until it ends.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
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
	q, err := shared.Query(r)
	if err != nil {
		s.reject(w, r, http.StatusBadRequest, "query", err.Error())
		return
	}
	since, resume, err := parseSince(q)
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

	// From here on the connection leaves net/http's hands: count the session,
	// so that Wait waits for it.
	s.sessionStarted()

	// Subscribe before the handshake: a client that has seen the 101 is already
	// in the fan-out, so nothing published from then on can be missed. Without
	// since, the client gets the ticks after the newest one held now; the
	// gateway stores a tick before fanning it out, so the subscription may
	// still bring that one, and it is skipped as if already sent.
	sub := s.gw.Hub.Subscribe(s.opts.QueueLen)
	if !resume {
		since = s.gw.History.Last()
	}

	hj := &hijackRecorder{ResponseWriter: w, timeout: s.opts.WriteTimeout}
	c, err := ws.Accept(hj, r, &ws.AcceptOptions{OriginPatterns: s.opts.OriginPatterns})
	if err != nil {
		// A handshake our checks let through but the library did not (a
		// missing Sec-WebSocket-Key, say); Accept has answered.
		sub.Close()
		s.sessionEnded()
		s.stats.Bad("handshake")
		s.log.Info("handshake refused", "pattern", s.stats.Name, "remote", r.RemoteAddr, "err", err)
		return
	}
	s.stats.Connections.Add(1)
	s.stats.Clients.Add(1)
	s.log.Info("client connected", "pattern", s.stats.Name, "remote", r.RemoteAddr, "resume", resume, "since", since)

	// Accept hijacked the connection: the request is over as far as net/http
	// is concerned, and its context ends when this handler returns. What
	// ends the session is the server's shutdown. Where the server says which
	// context that is (shared.WithShutdown, as the lab's does), the session
	// runs on a goroutine of its own and the handler returns: the handler's
	// goroutine would otherwise live as long as the connection, with the
	// stack net/http's own work grew, some 12 KiB more per connection.
	sess := &session{srv: s, c: c, conn: hj.batch, tcp: hj.conn, remote: r.RemoteAddr, shutdown: r.Context(), sub: sub, last: since}
	if shutdown, ok := shared.ShutdownOf(r); ok {
		sess.shutdown = shutdown
		go s.run(sess, resume)
		return
	}
	s.run(sess, resume) // the request's context is the base context's child: it ends at shutdown too
}

// run serves a session to its end and accounts for it.
func (s *Server) run(sess *session, resume bool) {
	defer s.sessionEnded()
	err := sess.serve(resume)
	s.stats.Clients.Add(-1)
	s.stats.Disconnects.Add(1)
	s.log.Info("client disconnected", "pattern", s.stats.Name, "remote", sess.remote, "err", err)
}

// session is one client's connection. One goroutine runs serve and is the
// only writer of ticks.
type session struct {
	srv      *Server // the gateway, stats, log and options every session shares
	c        *ws.Conn
	conn     *batchConn           // what c writes to: deadlines, and batches in one write
	tcp      net.Conn             // the hijacked connection under it, to cut a stuck close short
	remote   string               // the client's address, for the logs
	shutdown context.Context      // ends when the server shuts down
	sub      *shared.Subscription // live ticks from the hub; replay may replace it

	symbols map[string]bool // the client's filter; nil: every symbol
	last    uint64          // newest seq sent or skipped; older live ticks were replayed already
	batch   []*shared.Tick
}

// Why a session ends, besides the client leaving or the network failing.
var (
	errShuttingDown = errors.New("server shutting down")
	errWriteTimeout = errors.New("write timed out")
)

// serve runs the session until it ends and says why it ended.
func (s *session) serve(resume bool) error {
	defer s.c.CloseNow()             // whatever happened, release the connection
	defer func() { s.sub.Close() }() // replay may have replaced the subscription
	s.c.SetReadLimit(s.srv.opts.ReadLimit)

	// A reader runs beside this goroutine, which does all the writing: the
	// client sends ops, and only reading handles pongs and close frames. Every
	// PingInterval this goroutine starts a ping on a goroutine of its own,
	// which lives only until the pong: Ping waits for it, and a tick must not.
	// Each helper reports on its channel; they stop when helpers is
	// cancelled, and serve waits for them.
	helpers, stop := context.WithCancel(context.Background())
	ops := make(chan symbolsOp)
	readErr := make(chan error, 1)
	pingErr := make(chan error, 1)
	var wg sync.WaitGroup
	wg.Go(func() { readErr <- s.read(helpers, ops) })
	pings := time.NewTicker(s.srv.opts.PingInterval)
	pinging := false
	defer func() {
		pings.Stop()
		stop()
		wg.Wait()
	}()

	if resume {
		if err := s.replay(); err != nil {
			return s.end(err)
		}
	}
	for {
		// Shutdown first, then the hub's verdict, before anything else: select
		// picks at random among ready cases, and once either has spoken no
		// queued tick goes out.
		if err := s.over(); err != nil {
			return s.end(err)
		}
		select {
		case <-s.shutdown.Done(): // both handled by over, at the top of the loop
		case <-s.sub.Done():

		case t := <-s.sub.C:
			// Coalesce: whatever queued up while this goroutine slept or wrote
			// goes out now, back to back, under one deadline.
			s.batch = append(s.batch[:0], t)
			for len(s.batch) < s.srv.opts.QueueLen && len(s.sub.C) > 0 {
				s.batch = append(s.batch, <-s.sub.C)
			}
			if err := s.send(s.batch, true); err != nil {
				return s.end(err)
			}

		case op := <-ops:
			if err := s.setSymbols(op); err != nil {
				return s.end(err)
			}

		case err := <-readErr:
			// A *badFrame, or the client closed, or the connection broke.
			return s.end(fmt.Errorf("read: %w", err))

		case <-pings.C:
			if !pinging { // a peer slower than PingInterval to answer has WriteTimeout
				pinging = true
				wg.Go(func() { pingErr <- s.ping(helpers) })
			}

		case err := <-pingErr:
			pinging = false
			if err != nil {
				// No pong in time: the peer is gone or stuck; a close handshake
				// would only wait on it too. The deferred CloseNow drops it.
				return s.end(fmt.Errorf("ping: %w", err))
			}
		}
	}
}

// over says whether the session must end now: the server is shutting down, or
// the hub has cut the subscription (ErrSlowConsumer, ErrFeedRestarted,
// ErrGatewayClosed).
func (s *session) over() error {
	if s.shutdown.Err() != nil {
		return errShuttingDown
	}
	select {
	case <-s.sub.Done():
		return s.sub.Err()
	default:
		return nil
	}
}

// end closes the connection as the reason calls for and returns the reason,
// for the handler's log.
func (s *session) end(why error) error {
	stats, log := s.srv.stats, s.srv.log
	select {
	case <-s.sub.Done():
		// Whatever ended the session, the ticks the hub dropped when it cut
		// the client off count (Dropped is 0 for its other verdicts).
		stats.Drops.Add(uint64(s.sub.Dropped()))
	default:
	}
	var bad *badFrame
	switch {
	case errors.Is(why, errShuttingDown), errors.Is(why, shared.ErrGatewayClosed):
		// Not the client's fault: it reconnects, to this server once it is
		// back, or to another one.
		s.close(ws.StatusGoingAway, "server shutting down")

	case errors.Is(why, shared.ErrFeedRestarted):
		// Seqs start over under a new epoch: the client's place means nothing
		// in it. Tell the client to start from 0 in the new epoch; then it
		// reconnects with since=0 and gets the new epoch's ticks from the start.
		restart := shared.Control{Op: shared.OpReset, Epoch: s.srv.gw.Epoch(), Next: 0}
		if s.sendJSON(restart) == nil {
			s.close(ws.StatusServiceRestart, "feed restarted")
		}

	case errors.Is(why, shared.ErrSlowConsumer):
		// The live queue overflowed: the hub dropped this client's ticks. It
		// resumes after the last one it got, from the history.
		stats.SlowDisconnects.Add(1)
		log.Info("slow consumer cut off", "pattern", stats.Name, "remote", s.remote, "reason", "queue full")
		s.close(ws.StatusTryAgainLater, "slow consumer")

	case errors.Is(why, errWriteTimeout):
		// The client stopped reading and its TCP buffers are full: nothing
		// can be said. The deferred CloseNow drops the connection.
		stats.SlowDisconnects.Add(1)
		log.Info("slow consumer cut off", "pattern", stats.Name, "remote", s.remote, "reason", "write timeout")

	case errors.As(why, &bad):
		stats.Bad(bad.reason)
		log.Info("bad frame", "pattern", stats.Name, "remote", s.remote, "reason", bad.reason)
		s.close(bad.code, bad.reason)
	}
	// Otherwise the client closed, or the connection broke: there is nobody
	// left to tell.
	return why
}

// replay sends the held ticks after the client's since, a batch at a time,
// before any live tick. Each write waits for the socket, so the client's link
// sets the pace; live ticks queue in the subscription meanwhile, and send
// skips those the replay already covered, so the client sees every seq once.
func (s *session) replay() error {
	gw := s.srv.gw
	buf := make([]*shared.Tick, 0, replayBatch)
	for {
		ticks, after, reset := gw.History.Since(s.last, replayBatch, buf[:0])
		if reset {
			// The ticks right after the client's since are gone: say so before
			// anything that follows, so the client knows where it now stands.
			ctl := shared.Control{Op: shared.OpReset, Epoch: gw.Epoch(), Next: after}
			if err := s.sendJSON(ctl); err != nil {
				return err
			}
			s.last = after
		}
		if err := s.send(ticks, false); err != nil {
			return err
		}
		if len(ticks) == replayBatch {
			continue // more may be held
		}
		// Caught up with the history. On a slow link a long replay can
		// overflow the live queue; nothing is lost, since every tick the hub
		// dropped is held. Subscribe again and read on from the history, as
		// SSE does, rather than cut off a client that reads as fast as it can.
		// The hub's other verdicts are the live loop's to handle.
		select {
		case <-s.sub.Done():
			if !errors.Is(s.sub.Err(), shared.ErrSlowConsumer) {
				return nil
			}
			s.sub.Close()
			s.sub = gw.Hub.Subscribe(s.srv.opts.QueueLen)
		default:
			return nil
		}
	}
}

// send writes one text frame per tick, skipping ticks already sent and symbols
// the client did not ask for. With more than one live tick, the connection is
// held meanwhile, so that the frames leave together, up to maxHeldWrites in one
// system call (see batchConn). A replay is not held: its frames go out one by
// one, so that the client's link, not a batch, decides how far it gets before
// a shutdown stops it. The deadline is the connection's: each write to
// the network must finish within WriteTimeout. The library is given no
// deadline of its own (context.Background()): it would cost a timer per frame,
// and when one expires the library closes the connection. Shutdown is checked
// before every frame instead, so that a long replay stops promptly and the
// client still gets a proper close.
func (s *session) send(ticks []*shared.Tick, live bool) (err error) {
	if live && len(ticks) > 1 {
		s.conn.hold()
		defer func() {
			// On every way out: frames already held must not wait for the next batch.
			if rerr := s.conn.release(); rerr != nil && err == nil {
				err = writeError(rerr)
			}
		}()
	}
	var oldest *shared.Tick
	for _, t := range ticks {
		if s.shutdown.Err() != nil {
			return errShuttingDown
		}
		if t.Seq <= s.last {
			continue // sent during the replay
		}
		s.last = t.Seq
		// The filter lives here, in this client's writer, never in the hub: the
		// hub does the same cheap work for everyone.
		if s.symbols != nil && !s.symbols[t.Symbol] {
			continue
		}
		if err := s.c.Write(context.Background(), ws.MessageText, t.Raw); err != nil {
			return writeError(err)
		}
		s.srv.stats.Messages.Add(1)
		if oldest == nil {
			oldest = t
		}
	}
	// Replayed ticks are old on purpose; their age is not delivery latency.
	if live && oldest != nil {
		s.srv.stats.ObserveLatency(oldest, time.Now())
	}
	return nil
}

// sendJSON writes one control message.
func (s *session) sendJSON(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if err := s.c.Write(context.Background(), ws.MessageText, b); err != nil { // the deadline is the connection's
		return writeError(err)
	}
	return nil
}

// writeError tells a peer that did not take its bytes in time (errWriteTimeout)
// from one that is gone.
func writeError(err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("write: %w: %w", errWriteTimeout, err)
	}
	return fmt.Errorf("write: %w", err)
}

// ping pings once and waits for the pong, so that a peer that vanished without
// closing (a laptop gone to sleep, a dropped NAT mapping) is noticed even when
// no tick is flowing. serve runs it every PingInterval, on a goroutine of its
// own, so that waiting for a pong never delays a tick.
func (s *session) ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.srv.opts.WriteTimeout)
	defer cancel()
	return s.c.Ping(ctx)
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
		s.srv.log.Debug("close handshake", "pattern", s.srv.stats.Name, "remote", s.remote, "err", err)
	}
}

package shared

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// BrokerConfig says which NATS to use: an external server or cluster (URL), or an
// embedded one listening on Listen with JetStream data in DataDir.
type BrokerConfig struct {
	URL     string // nats://host:port[,nats://...]; empty: embedded server
	Listen  string // embedded server's client address, e.g. 127.0.0.1:4222 (port 0: any)
	DataDir string // embedded JetStream storage; empty: a temp dir removed at Close
	Logger  *slog.Logger
}

// Broker is the lab's NATS: by default a nats-server running inside this process,
// so `go run .` needs nothing installed, and still reachable by the nats CLI and
// other processes on its listen address.
type Broker struct {
	url     string
	server  *server.Server // nil for an external broker
	tempDir string
	log     *slog.Logger
}

// StartBroker starts the embedded server, or checks that the external one answers.
func StartBroker(cfg BrokerConfig) (*Broker, error) {
	b := &Broker{url: cfg.URL, log: cfg.Logger}
	if cfg.URL != "" {
		nc, err := b.Connect("commlab-probe")
		if err != nil {
			return nil, err
		}
		nc.Close()
		return b, nil
	}
	host, port, err := splitListen(cfg.Listen)
	if err != nil {
		return nil, err
	}
	if port != server.RANDOM_PORT {
		// Say at once that the port is taken (another lab?), rather than after
		// the server's 10 s readiness timeout.
		probe, err := net.Listen("tcp", cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("broker: embedded nats-server cannot listen on %s (another commlab running? try --nats-listen 127.0.0.1:0): %w", cfg.Listen, err)
		}
		probe.Close()
	}
	dir := cfg.DataDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "commlab-nats-"); err != nil {
			return nil, fmt.Errorf("broker: %w", err)
		}
		b.tempDir = dir
	}
	opts := &server.Options{
		ServerName: "commlab",
		Host:       host,
		Port:       port,
		JetStream:  true,
		StoreDir:   dir,
		NoSigs:     true, // main owns signals; otherwise SIGINT would os.Exit the lab
		NoLog:      true,
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		b.removeTemp()
		return nil, fmt.Errorf("broker: %w", err)
	}
	ns.Start() // returns once the server runs its own goroutines
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		b.removeTemp()
		return nil, fmt.Errorf("broker: embedded nats-server not ready on %s (is the port in use? try --nats-listen 127.0.0.1:0)", cfg.Listen)
	}
	b.server = ns
	b.url = ns.ClientURL()
	return b, nil
}

func splitListen(listen string) (string, int, error) {
	host, p, err := net.SplitHostPort(listen)
	if err != nil {
		return "", 0, fmt.Errorf("broker: listen address %q: %w", listen, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("broker: listen port %q is not a port number", p)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	return host, port, nil
}

// URL is where NATS clients connect: the embedded server's address or the
// external URL list.
func (b *Broker) URL() string { return b.url }

// Embedded reports whether the broker runs inside this process.
func (b *Broker) Embedded() bool { return b.server != nil }

// Connect opens a NATS connection named name. The first connect fails fast, so a
// wrong URL is reported at start; after that it reconnects forever: a gateway or
// feed must outlive a broker restart.
//
// To the embedded server, the connection is in-process (an in-memory pipe,
// not a socket): the same protocol, without a write and a read system call
// for every message each way. At 1,000 ticks/s that is a third of the lab's
// idle CPU. Other processes (the nats CLI, bench, workers) still connect over
// TCP to URL.
func (b *Broker) Connect(name string, opts ...nats.Option) (*nats.Conn, error) {
	base := []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil && b.log != nil {
				b.log.Warn("nats disconnected", "conn", name, "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			if b.log != nil {
				b.log.Info("nats reconnected", "conn", name, "url", nc.ConnectedUrl())
			}
		}),
	}
	if b.server != nil {
		base = append(base, nats.InProcessServer(b.server))
	}
	nc, err := nats.Connect(b.url, append(base, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("broker: connect %s to %s: %w", name, b.url, err)
	}
	return nc, nil
}

// Healthy reports whether the broker accepts connections.
func (b *Broker) Healthy(nc *nats.Conn) bool {
	if b.server != nil && !b.server.Running() {
		return false
	}
	return nc != nil && nc.IsConnected()
}

// Close shuts the embedded server down and removes its temp data; an external
// broker is left alone.
func (b *Broker) Close() {
	if b.server != nil {
		b.server.Shutdown()
		b.server.WaitForShutdown()
	}
	b.removeTemp()
}

func (b *Broker) removeTemp() {
	if b.tempDir != "" {
		if err := os.RemoveAll(b.tempDir); err != nil && !errors.Is(err, os.ErrNotExist) && b.log != nil {
			b.log.Warn("broker: remove temp dir", "dir", b.tempDir, "err", err)
		}
	}
}

package bench

import (
	"context"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"commlab/shared"
)

// dialer is client i's dialer. With srcIPs > 1 it binds the connection to
// source address 127.0.0.(1 + i mod srcIPs): the kernel picks an ephemeral
// port per source address, so N addresses give N times the ~28,000 ports one
// address has towards one server port. Every 127.x address is loopback.
func dialer(i, srcIPs int) *net.Dialer {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	if srcIPs > 1 {
		d.LocalAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(1+i%srcIPs))}
	}
	return d
}

// httpClient is a client's own HTTP client: one connection at a time, dialled
// by the client's dialer, counting every byte it reads (headers, chunked
// encoding and WebSocket framing included) into bytes, as
// shared.NewHTTPClient does for the patterns' clients.
func httpClient(d *net.Dialer, bytes *atomic.Uint64) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return shared.CountReads(c, bytes), nil
		},
		MaxIdleConnsPerHost: 1,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true, // compressed bodies would hide the real payload size
	}}
}

// natsDialer dials a NATS client's connections with the client's dialer and
// counts what they read.
type natsDialer struct {
	d     *net.Dialer
	bytes *atomic.Uint64
}

func (n natsDialer) Dial(network, addr string) (net.Conn, error) {
	c, err := n.d.Dial(network, addr)
	if err != nil {
		return nil, err
	}
	return shared.CountReads(c, n.bytes), nil
}

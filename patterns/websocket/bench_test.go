package websocket_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"commlab/patterns/websocket"
	"commlab/shared"
	"commlab/shared/labtest"
)

// BenchmarkSend measures the server's per-client write path: one session
// sending ticks to a loopback client, one op per tick. The ticks go straight
// into the hub (no NATS, no history), and the client is a bare TCP reader that
// allocates nothing, so allocs/op are the server's: the hub, the session's
// loop, the library's frame, the write.
//
// burst is how many ticks are queued at once: 1 is a writer that keeps up
// (one frame, one write per tick); 8 and 64 are a writer that finds a backlog
// and sends it in batches of up to maxHeldWrites frames per write.
func BenchmarkSend(b *testing.B) {
	for _, burst := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("burst=%d", burst), func(b *testing.B) {
			lab := labtest.Start(b, nil)
			template := lab.Publish(b, 1)[0]
			h := websocket.Handler(lab.Gateway, lab.Metrics.Pattern("ws"), lab.Log, &websocket.Options{QueueLen: 1024})
			srv, _ := labtest.Serve(b, h)
			b.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if err := h.Wait(ctx); err != nil {
					b.Error(err)
				}
			})
			conn := rawClient(b, srv.Listener.Addr().String())
			labtest.WaitFor(b, "the session to subscribe", func() bool { return lab.Gateway.Hub.Len() == 1 })

			// A ring of ticks, reused: more than the queue holds, so a tick is
			// only rewritten long after the session is done with it.
			ring := make([]shared.Tick, 2048)
			for i := range ring {
				ring[i] = template
			}
			frame := 2 + len(template.Raw) // a small server frame: 2 bytes of header
			buf := make([]byte, frame*burst)
			seq := template.Seq

			b.ReportAllocs()
			b.ResetTimer()
			for sent := 0; sent < b.N; sent += burst {
				n := min(burst, b.N-sent)
				for range n {
					seq++
					t := &ring[seq%uint64(len(ring))]
					t.Seq = seq
					lab.Gateway.Hub.Publish(t)
				}
				if _, err := io.ReadFull(conn, buf[:frame*n]); err != nil {
					b.Fatalf("after %d ticks: %v", sent, err)
				}
			}
		})
	}
}

// rawClient upgrades a bare TCP connection and returns it once the server has
// answered 101; it is closed when the benchmark ends.
func rawClient(b *testing.B, addr string) net.Conn {
	b.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = conn.Close() })
	req := "GET /api/ws HTTP/1.1\r\nHost: " + addr + "\r\n" +
		"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
	if _, err := conn.Write([]byte(req)); err != nil {
		b.Fatal(err)
	}
	// Read the response a byte at a time, so that no frame is buffered away.
	resp, err := http.ReadResponse(bufio.NewReaderSize(oneByte{conn}, 16), nil)
	if err != nil {
		b.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		b.Fatalf("handshake: got status %d, want 101", resp.StatusCode)
	}
	return conn
}

// oneByte reads at most one byte per call.
type oneByte struct{ r io.Reader }

func (o oneByte) Read(p []byte) (int, error) { return o.r.Read(p[:min(len(p), 1)]) }

package shared_test

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"

	"commlab/shared"
)

// TestMain fails the package if any test leaves a goroutine behind: the hub,
// the feed, the gateway and the broker all start goroutines that must end.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func discardLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// startBroker runs a real embedded NATS server on a random loopback port until
// the test ends.
func startBroker(t testing.TB) *shared.Broker {
	t.Helper()
	b, err := shared.StartBroker(shared.BrokerConfig{Listen: "127.0.0.1:0", DataDir: t.TempDir(), Logger: discardLog()})
	if err != nil {
		t.Fatalf("StartBroker: %v", err)
	}
	t.Cleanup(b.Close)
	return b
}

// connect opens a NATS connection that is closed when the test ends.
func connect(t testing.TB, b *shared.Broker, name string) *nats.Conn {
	t.Helper()
	nc, err := b.Connect(name)
	if err != nil {
		t.Fatalf("Connect(%q): %v", name, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// waitGateway waits, on the history's Changed signal, until ok holds.
func waitGateway(t testing.TB, h *shared.History, what string, ok func() bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		changed := h.Changed()
		if ok() {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("gateway: timed out waiting for %s (last seq %d)", what, h.Last())
		}
	}
}

// tick returns an encoded tick with the given seq, as the feed would make it.
func tick(seq uint64) *shared.Tick {
	t := shared.Tick{Seq: seq, Symbol: "ACME", Price: 100 + float64(seq%100)/100, TUs: 1764122400123456 + int64(seq)}
	t.Encode()
	return &t
}

// seqs lists the seqs of ticks, for readable comparisons.
func seqs(ticks []*shared.Tick) []uint64 {
	out := make([]uint64, len(ticks))
	for i, t := range ticks {
		out[i] = t.Seq
	}
	return out
}

// seqRange returns first..last.
func seqRange(first, last uint64) []uint64 {
	var out []uint64
	for s := first; s <= last; s++ {
		out = append(out, s)
	}
	return out
}

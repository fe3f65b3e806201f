package natsqueue

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestKillReviveLeavesNothing kills and revives workers of both kinds and
// checks, once the pool is closed, that no goroutine is left: not the
// handlers, not the consumers' loops, not the killed connections.
func TestKillReviveLeavesNothing(t *testing.T) {
	tl := startLab(t)
	// The publisher's ack handling starts with its first publish, on the lab's
	// connection: let it start before taking stock of the lab's own goroutines.
	tl.publish(t, 1)
	ignore := goleak.IgnoreCurrent()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := StartPool(ctx, tl.Broker.Connect, &PoolOptions{Core: 2, JetStream: 2, Worker: WorkerOptions{WorkTime: time.Millisecond}, SettleMargin: 50 * time.Millisecond, Log: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(p.Names(), ","), "core-1,core-2,js-1,js-2"; got != want {
		t.Errorf("got workers %s, want %s", got, want)
	}
	for round := range 3 {
		tl.publish(t, 10)
		for _, name := range []string{"core-1", "js-1"} {
			if _, err := p.Kill(name); err != nil {
				t.Fatal(err)
			}
		}
		tl.publish(t, 10)
		for _, name := range []string{"core-1", "js-1"} {
			if err := p.Revive(ctx, name); err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
	}
	tl.publish(t, 10)
	snap := waitSnapshot(t, p, "everything settled", func(s Snapshot) bool {
		return s.Core.InFlight == 0 && s.JetStream.Processed == 71 && s.JetStream.Pending == 0 // 1 from before the pool
	})
	if c := snap.Core; c.Processed+c.Lost+c.Unknown != 70 {
		t.Errorf("got core %+v, want processed + lost + unknown = 70", c)
	}
	for _, name := range []string{"core-1", "js-1"} {
		if w := workerStats(snap, name); !w.Alive || w.Restarts != 3 {
			t.Errorf("got %+v, want alive after 3 restarts", w)
		}
	}
	closePool(t, p)
	goleak.VerifyNone(t, ignore)
}

// TestKillReviveErrors checks the mistakes a dashboard can make.
func TestKillReviveErrors(t *testing.T) {
	tl := startLab(t)
	p := startPool(t, tl, PoolOptions{Core: 1, JetStream: 1})
	tests := []struct {
		name string
		do   func() error
		want string
	}{
		{"kill unknown", func() error { _, err := p.Kill("core-9"); return err }, `no worker "core-9"`},
		{"revive alive", func() error { return p.Revive(t.Context(), "js-1") }, "js-1 is alive"},
		{"kill", func() error { _, err := p.Kill("js-1"); return err }, ""},
		{"kill dead", func() error { _, err := p.Kill("js-1"); return err }, "js-1 is already dead"},
		{"revive dead", func() error { return p.Revive(t.Context(), "js-1") }, ""},
		{"revive unknown", func() error { return p.Revive(t.Context(), "nobody") }, `no worker "nobody"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.do()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("got error %v, want none", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("got error %v, want one saying %q", err, tc.want)
			}
		})
	}
}

// TestSnapshotJSON checks the field names the dashboard reads from /api/stats.
func TestSnapshotJSON(t *testing.T) {
	tl := startLab(t)
	p := startPool(t, tl, PoolOptions{Core: 1, JetStream: 1, Publisher: tl.pub, Worker: WorkerOptions{WorkTime: time.Millisecond}})
	tl.publish(t, 3)
	snap := waitSnapshot(t, p, "the ticks processed", func(s Snapshot) bool {
		return s.Core.Processed == 3 && s.JetStream.Processed == 3
	})
	b, err := json.Marshal(snap)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{
		`"workers":[{"name":"core-1","kind":"core","alive":true,"restarts":0,"processed":3,`,
		`"redelivered":`, `"dropped":`, `"lost":`, `"pending":`,
		`"core":{"published":3,"processed":3,"lost":0,"unknown":0,"in_flight":0,`,
		`"jetstream":{"published":3,"backlog":0,"processed":3,`, `"dead_lettered":0`, `"ack_wait_ms":500`,
		`"publisher":{"published":3,"acked":3,"failed":0,"skipped":0,"pending":0}`,
	} {
		if !strings.Contains(string(b), key) {
			t.Errorf("snapshot JSON lacks %s:\n%s", key, b)
		}
	}
}

// TestStartPoolNeedsStreams checks the error when the lab forgot SetupStreams.
func TestStartPoolNeedsStreams(t *testing.T) {
	tl := startLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	js := jetStreamOf(t, tl.NC)
	if err := js.DeleteStream(ctx, StreamName); err != nil {
		t.Fatal(err)
	}
	_, err := StartPool(ctx, tl.Broker.Connect, &PoolOptions{JetStream: 1})
	if err == nil || !strings.Contains(err.Error(), "SetupStreams") {
		t.Errorf("got %v, want an error pointing at SetupStreams", err)
	}
	// A core-only pool does not need the stream.
	p, err := StartPool(ctx, tl.Broker.Connect, &PoolOptions{Core: 1})
	if err != nil {
		t.Fatal(err)
	}
	closePool(t, p)
}

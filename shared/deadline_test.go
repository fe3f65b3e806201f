package shared

import (
	"net"
	"testing"
	"time"
)

// deadlineRecorder is a Deadliner that keeps the deadlines it is given.
type deadlineRecorder struct{ set []time.Time }

func (r *deadlineRecorder) SetWriteDeadline(t time.Time) error {
	r.set = append(r.set, t)
	return nil
}

// However often Arm runs, every write it precedes has at least nine tenths of
// Timeout, and the deadline moves at most once per tenth of Timeout.
func TestWriteDeadlineArmsSeldomAndNeverShort(t *testing.T) {
	d := WriteDeadline{Timeout: 20 * time.Millisecond}
	var rec deadlineRecorder
	start := time.Now()
	arms := 0
	for time.Since(start) < 5*d.Timeout {
		now := time.Now()
		if err := d.Arm(&rec); err != nil {
			t.Fatal(err)
		}
		arms++
		if left := rec.set[len(rec.set)-1].Sub(now); left < d.Timeout-d.Timeout/10 {
			t.Fatalf("after arm %d the write has %v, want at least %v", arms, left, d.Timeout-d.Timeout/10)
		}
	}
	elapsed := time.Since(start)
	if most := int(elapsed/(d.Timeout/10)) + 1; len(rec.set) > most {
		t.Errorf("got %d deadlines set in %v, want at most %d (one per tenth of Timeout)", len(rec.set), elapsed, most)
	}
	t.Logf("%d arms, %d deadlines set", arms, len(rec.set))
}

// BenchmarkWriteDeadline compares what a write pays for its deadline: set on
// a real loopback connection every time, or armed by WriteDeadline.
func BenchmarkWriteDeadline(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()

	b.Run("set-every-write", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		}
	})
	b.Run("arm", func(b *testing.B) {
		d := WriteDeadline{Timeout: 5 * time.Second}
		b.ReportAllocs()
		for b.Loop() {
			_ = d.Arm(c)
		}
	})
}

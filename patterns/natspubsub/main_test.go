package natspubsub

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine behind: a Subscribe
// loop, a demo's summary loop, or a NATS connection nobody closed.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

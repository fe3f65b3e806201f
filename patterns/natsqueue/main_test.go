package natsqueue

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine behind: a worker's
// handler, a consumer's pull loop, the dead-letter handler, a killed worker's
// connection, or the demo's input reader once its input has ended.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

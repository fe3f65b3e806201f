package websocket_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any goroutine outlives the tests: every
// connection's writer, reader and pinger must have been waited for.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

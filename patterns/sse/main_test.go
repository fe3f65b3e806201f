package sse

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine behind: a pump, an
// r3labs stream, a Subscribe loop or an idle HTTP connection nobody closed.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

package polling

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine behind: a held long
// poll, a Poll loop or an idle HTTP connection that nobody closed.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

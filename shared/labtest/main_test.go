package labtest_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a lab leaves a goroutine behind once its test
// has ended: the broker, the NATS connections and the servers must all stop.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

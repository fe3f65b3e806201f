package bench

import (
	"testing"

	"go.uber.org/goleak"
)

// Run starts a goroutine per client; the end-to-end runs are in package main,
// and every test here must leave none behind either.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

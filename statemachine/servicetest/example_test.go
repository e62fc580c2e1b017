package servicetest_test

import (
	"math/rand/v2"
	"testing"

	"github.com/bulwark-bft/bulwark/statemachine"
	"github.com/bulwark-bft/bulwark/statemachine/kv"
	"github.com/bulwark-bft/bulwark/statemachine/servicetest"
)

// Run the conformance suite from a test of your service: a fresh service
// for every call, and a generator of well-formed operations (the suite
// derives malformed ones from them).
func ExampleRun() {
	// In your service's package, in a _test.go file:
	testMyService := func(t *testing.T) {
		servicetest.Run(t,
			func() statemachine.Service { return kv.New() },
			func(r *rand.Rand) []byte {
				key := []byte{'k', byte(r.IntN(8))} // a small key space: overwrites
				return kv.EncodePut(key, []byte{byte(r.IntN(256))})
			})
	}
	_ = testMyService
}

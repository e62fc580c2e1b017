package bench

import (
	"slices"
	"time"

	"github.com/bulwark-bft/bulwark/crypto"
)

// CryptoCost puts a run's signatures in terms of this machine's CPU time:
// with the cost of one signature and verification and how many of each an
// operation took, a reader can tell how much of the throughput the
// signatures allow.
type CryptoCost struct {
	SignMicros    float64 `json:"sign_us"` // one ed25519 signature on this machine, measured at start
	VerifyMicros  float64 `json:"verify_us"`
	SignsPerOp    float64 `json:"signs_per_op"` // from the replicas' and clients' counters
	VerifiesPerOp float64 `json:"verifies_per_op"`
}

// cryptoRounds is how many rounds MeasureCrypto times each operation in.
// The median of several rounds shrugs off a round that a GC or another
// process on the machine interrupted, which a mean would absorb.
const cryptoRounds = 5

// MeasureCrypto times ed25519 signing and verifying of a 128-byte message
// for about d each, and returns the median microseconds per operation of
// cryptoRounds rounds. Call it before the run starts, so the replicas do not
// compete with it for the CPU. If no key can be made, which crypto/rand
// never lets happen, the costs are zero: the table then shows them as not
// measured, and the run is no less valid.
func MeasureCrypto(d time.Duration) CryptoCost {
	key, err := crypto.GenerateKey(nil)
	if err != nil {
		return CryptoCost{}
	}
	msg := make([]byte, 128)
	for i := range msg {
		msg[i] = byte(i)
	}
	pub, sig := key.PublicKey(), key.Sign(msg)
	var v crypto.Ed25519Verifier
	verified := true
	c := CryptoCost{
		SignMicros: timeOp(d, func() { sig = key.Sign(msg) }),
		VerifyMicros: timeOp(d, func() {
			verified = v.Verify(pub, msg, sig) && verified
		}),
	}
	if !verified { // also keeps the compiler from dropping the calls
		return CryptoCost{}
	}
	return c
}

// timeOp runs op for about d in cryptoRounds rounds and returns the median
// microseconds per call. Each round runs batches of calls until its share of
// d has passed, so reading the clock does not weigh on the result.
func timeOp(d time.Duration, op func()) float64 {
	const batch = 16
	perRound := d / cryptoRounds
	rounds := make([]float64, cryptoRounds)
	for i := range rounds {
		n := 0
		start := time.Now()
		elapsed := time.Duration(0)
		for n == 0 || elapsed < perRound {
			for range batch {
				op()
			}
			n += batch
			elapsed = time.Since(start)
		}
		rounds[i] = float64(elapsed) / float64(time.Microsecond) / float64(n)
	}
	slices.Sort(rounds)
	return rounds[len(rounds)/2]
}

// PerOp returns c with the signatures and verifications of a run of ops
// operations spread over them. For no operations both are zero.
func (c CryptoCost) PerOp(signs, verifies uint64, ops int64) CryptoCost {
	c.SignsPerOp, c.VerifiesPerOp = 0, 0
	if ops > 0 {
		c.SignsPerOp = float64(signs) / float64(ops)
		c.VerifiesPerOp = float64(verifies) / float64(ops)
	}
	return c
}

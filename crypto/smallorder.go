package crypto

import "errors"

// ErrWeakKey is a public key that is not a point of the curve or is of small
// order. Under the cofactored verification rules (see Ed25519Verifier) a
// key of small order verifies a signature any party can make, so no such
// key can stand for a replica or a client.
var ErrWeakKey = errors.New("crypto: public key is not a point of the curve or is of small order")

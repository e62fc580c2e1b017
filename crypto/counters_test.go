package crypto

import "testing"

func TestCountsCountSignaturesAndVerifications(t *testing.T) {
	k, err := GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	s0, v0 := Counts()
	sig := k.Sign([]byte("m"))
	k.Sign([]byte("n"))
	Ed25519Verifier{}.Verify(k.PublicKey(), []byte("m"), sig)
	Ed25519Verifier{}.Verify(k.PublicKey(), []byte("m"), sig[:3]) // rejected on length: no curve work, not counted
	s1, v1 := Counts()
	// Other tests of the package may run in parallel; they only add.
	if s1-s0 < 2 || v1-v0 < 1 {
		t.Fatalf("counts moved by %d signs, %d verifies; want at least 2 and 1", s1-s0, v1-v0)
	}
}

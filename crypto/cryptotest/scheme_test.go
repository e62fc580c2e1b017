package cryptotest

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"sync"
	"testing"

	"github.com/bulwark-bft/bulwark/crypto"
)

func TestSchemeRoundTripAndForgery(t *testing.T) {
	s := NewScheme(42)
	alice, bob := s.NewSigner("alice"), s.NewSigner("bob")
	// mallory is a signer the adversary legitimately holds; it must not be
	// able to sign for alice or bob.
	mallory := s.NewSigner("mallory")
	msg := []byte("commit v=0 n=1")
	sig := alice.Sign(msg)
	if len(sig) != crypto.SignatureSize {
		t.Fatalf("signature is %d bytes, want %d", len(sig), crypto.SignatureSize)
	}
	flip := func(b []byte, i int) []byte { c := bytes.Clone(b); c[i] ^= 1; return c }
	tests := []struct {
		name string
		pub  crypto.PublicKey
		msg  []byte
		sig  []byte
		want bool
	}{
		{"valid", alice.PublicKey(), msg, sig, true},
		{"tampered message", alice.PublicKey(), flip(msg, 0), sig, false},
		{"tampered tag", alice.PublicKey(), msg, flip(sig, 0), false},
		{"tampered padding", alice.PublicKey(), msg, flip(sig, 63), false},
		{"wrong signer's key", bob.PublicKey(), msg, sig, false},
		{"mallory signs as alice", alice.PublicKey(), msg, mallory.Sign(msg), false},
		{"other seed's alice", alice.PublicKey(), msg, NewScheme(43).NewSigner("alice").Sign(msg), false},
		{"unknown key", crypto.PublicKey(bytes.Repeat([]byte{1}, 32)), msg, sig, false},
		{"nil key", nil, msg, sig, false},
		{"short key", alice.PublicKey()[:31], msg, sig, false},
		{"nil signature", alice.PublicKey(), msg, nil, false},
		{"bare 32-byte tag", alice.PublicKey(), msg, sig[:32], false},
		{"long signature", alice.PublicKey(), msg, append(bytes.Clone(sig), 0), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := s.Verify(tt.pub, tt.msg, tt.sig); got != tt.want {
				t.Errorf("Verify = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSchemeDeterministic(t *testing.T) {
	a, b := NewScheme(7), NewScheme(7)
	msg := []byte("m")
	x, y := a.NewSigner("r0"), b.NewSigner("r0")
	if !bytes.Equal(x.PublicKey(), y.PublicKey()) || !bytes.Equal(x.Sign(msg), y.Sign(msg)) {
		t.Error("same seed and name gave different keys or signatures")
	}
	if !bytes.Equal(x.PublicKey(), a.NewSigner("r0").PublicKey()) {
		t.Error("same name twice gave different keys")
	}
	if bytes.Equal(x.PublicKey(), NewScheme(8).NewSigner("r0").PublicKey()) {
		t.Error("different seeds gave the same key")
	}
	// Pin the documented key derivation.
	h := sha256.New()
	h.Write([]byte("pub"))
	h.Write(binary.BigEndian.AppendUint64(nil, 7))
	h.Write([]byte("r0"))
	if !bytes.Equal(x.PublicKey(), h.Sum(nil)) {
		t.Error("public key is not SHA-256(\"pub\"|seed|name)")
	}
	// Either instance verifies the signer it made itself.
	if !b.Verify(y.PublicKey(), msg, x.Sign(msg)) {
		t.Error("scheme b rejects a signature from an identical signer")
	}
}

func TestSchemeConcurrent(t *testing.T) {
	s := NewScheme(1)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				k := s.NewSigner(fmt.Sprintf("n%d-%d", g, i%10))
				msg := []byte{byte(g), byte(i)}
				if !s.Verify(k.PublicKey(), msg, k.Sign(msg)) {
					t.Error("concurrent roundtrip failed")
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestSchemeWithVerifyBatch(t *testing.T) {
	s := NewScheme(3)
	k := s.NewSigner("c")
	items := make([]crypto.Item, 100)
	for i := range items {
		msg := []byte{byte(i)}
		items[i] = crypto.Item{PublicKey: k.PublicKey(), Message: msg, Signature: k.Sign(msg)}
		if i%5 == 0 {
			items[i].Message = []byte{byte(i), 0}
		}
	}
	for i, ok := range crypto.VerifyBatch(s, items) {
		if ok != (i%5 != 0) {
			t.Errorf("item %d = %v", i, ok)
		}
	}
}

func BenchmarkSchemeSign(b *testing.B) {
	k := NewScheme(1).NewSigner("r0")
	msg := make([]byte, 120)
	b.ReportAllocs()
	for b.Loop() {
		k.Sign(msg)
	}
}

func BenchmarkSchemeVerify(b *testing.B) {
	s := NewScheme(1)
	k := s.NewSigner("r0")
	msg := make([]byte, 120)
	sig := k.Sign(msg)
	pub := k.PublicKey()
	b.ReportAllocs()
	for b.Loop() {
		s.Verify(pub, msg, sig)
	}
}

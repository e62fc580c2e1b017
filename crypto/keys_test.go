package crypto

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustKey(t testing.TB, seedByte byte) *PrivateKey {
	t.Helper()
	k, err := NewPrivateKeyFromSeed(bytes.Repeat([]byte{seedByte}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestRFC8032Vector pins interoperability with standard Ed25519 (RFC 8032
// section 7.1, TEST 2).
func TestRFC8032Vector(t *testing.T) {
	seed := mustHex(t, "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb")
	wantPub := "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c"
	wantSig := "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da" +
		"085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"
	k, err := NewPrivateKeyFromSeed(seed)
	if err != nil {
		t.Fatal(err)
	}
	if got := k.PublicKey().Hex(); got != wantPub {
		t.Errorf("public key = %s, want %s", got, wantPub)
	}
	sig := k.Sign([]byte{0x72})
	if got := hex.EncodeToString(sig); got != wantSig {
		t.Errorf("signature = %s, want %s", got, wantSig)
	}
	if !(Ed25519Verifier{}).Verify(k.PublicKey(), []byte{0x72}, sig) {
		t.Error("RFC 8032 vector does not verify")
	}
}

func TestSignVerify(t *testing.T) {
	k1, k2 := mustKey(t, 1), mustKey(t, 2)
	msg := []byte("pre-prepare v=1 n=7")
	sig := k1.Sign(msg)
	if len(sig) != SignatureSize {
		t.Fatalf("signature is %d bytes, want %d", len(sig), SignatureSize)
	}
	flip := func(b []byte, i int) []byte {
		c := bytes.Clone(b)
		c[i] ^= 0x01
		return c
	}
	tests := []struct {
		name string
		pub  PublicKey
		msg  []byte
		sig  []byte
		want bool
	}{
		{"valid", k1.PublicKey(), msg, sig, true},
		{"tampered message", k1.PublicKey(), flip(msg, 0), sig, false},
		{"extended message", k1.PublicKey(), append(bytes.Clone(msg), 0), sig, false},
		{"tampered R", k1.PublicKey(), msg, flip(sig, 0), false},
		{"tampered S", k1.PublicKey(), msg, flip(sig, 40), false},
		{"wrong key", k2.PublicKey(), msg, sig, false},
		{"other key's signature", k1.PublicKey(), msg, k2.Sign(msg), false},
		{"nil key", nil, msg, sig, false},
		{"short key", k1.PublicKey()[:31], msg, sig, false},
		{"long key", append(k1.PublicKey(), 0), msg, sig, false},
		{"nil signature", k1.PublicKey(), msg, nil, false},
		{"short signature", k1.PublicKey(), msg, sig[:63], false},
		{"long signature", k1.PublicKey(), msg, append(bytes.Clone(sig), 0), false},
		{"all-zero key and signature", make(PublicKey, 32), msg, make([]byte, 64), false},
		{"all-ones key and signature", PublicKey(bytes.Repeat([]byte{0xff}, 32)), msg, bytes.Repeat([]byte{0xff}, 64), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := (Ed25519Verifier{}).Verify(tt.pub, tt.msg, tt.sig); got != tt.want {
				t.Errorf("Verify = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestGenerateKey(t *testing.T) {
	k, err := GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(k.PublicKey()) != PublicKeySize || len(k.Seed()) != 32 {
		t.Fatalf("sizes: pub %d seed %d", len(k.PublicKey()), len(k.Seed()))
	}
	k2, err := NewPrivateKeyFromSeed(k.Seed())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(k.PublicKey(), k2.PublicKey()) {
		t.Error("key rebuilt from seed has a different public key")
	}

	// A deterministic reader gives a deterministic key.
	a, _ := GenerateKey(bytes.NewReader(bytes.Repeat([]byte{7}, 32)))
	b := mustKey(t, 7)
	if !bytes.Equal(a.PublicKey(), b.PublicKey()) {
		t.Error("GenerateKey(reader) differs from NewPrivateKeyFromSeed(same bytes)")
	}

	// A short reader is an error, not a weak key.
	if _, err := GenerateKey(bytes.NewReader(make([]byte, 5))); err == nil {
		t.Error("GenerateKey with a short reader: want error")
	}
}

func TestNewPrivateKeyFromSeedLengths(t *testing.T) {
	for _, n := range []int{0, 31, 33, 64} {
		if _, err := NewPrivateKeyFromSeed(make([]byte, n)); err == nil {
			t.Errorf("seed of %d bytes: want error", n)
		}
	}
}

func TestKeyAccessorsReturnCopies(t *testing.T) {
	k := mustKey(t, 3)
	pub, seed := k.PublicKey(), k.Seed()
	pub[0] ^= 0xff
	seed[0] ^= 0xff
	if bytes.Equal(k.PublicKey(), pub) || bytes.Equal(k.Seed(), seed) {
		t.Fatal("mutating a returned slice changed the key")
	}
	msg := []byte("m")
	if !(Ed25519Verifier{}).Verify(k.PublicKey(), msg, k.Sign(msg)) {
		t.Fatal("key no longer signs correctly")
	}
}

func TestParsePublicKeyHex(t *testing.T) {
	k := mustKey(t, 4)
	tests := []struct {
		name    string
		in      string
		wantErr string
	}{
		{"valid", k.PublicKey().Hex(), ""},
		{"uppercase", strings.ToUpper(k.PublicKey().Hex()), ""},
		{"empty", "", "got 0 bytes"},
		{"short", k.PublicKey().Hex()[:62], "got 31 bytes"},
		{"odd length", k.PublicKey().Hex()[:63], "odd length"},
		{"not hex", strings.Repeat("zz", 32), "invalid byte"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParsePublicKeyHex(tt.in)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(p, k.PublicKey()) {
					t.Errorf("parsed %x, want %x", p, k.PublicKey())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
	var invalid hex.InvalidByteError
	if _, err := ParsePublicKeyHex("zz"); !errors.As(err, &invalid) {
		t.Errorf("hex error is not wrapped: %v", err)
	}
}

package crypto

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
)

// FuzzParseKeyFile feeds arbitrary file contents to the private key file
// parser: it never panics, and a key it accepts is exactly the file written
// for that key, up to the tolerated uppercase hex and "\r\n" line endings.
func FuzzParseKeyFile(f *testing.F) {
	seed := bytes.Repeat([]byte{0x5a}, seedSize)
	good := keyFileHeader + "\n" + hex.EncodeToString(seed) + "\n"
	for _, s := range []string{
		good,
		strings.ToUpper(good[:len(keyFileHeader)]) + good[len(keyFileHeader):],
		keyFileHeader + "\r\n" + strings.ToUpper(hex.EncodeToString(seed)) + "\r\n",
		strings.TrimSuffix(good, "\n"),
		good + "\n",
		keyFileHeader + "\n" + hex.EncodeToString(seed[:31]) + "\n",
		keyFileHeader + "\n" + hex.EncodeToString(seed) + "0\n",
		keyFileHeader + "\n\n",
		"\n", "", "\r\n\r\n",
		strings.Repeat("a", maxKeyFileSize+1),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := parseKeyFile(data)
		if err != nil {
			if k != nil {
				t.Fatal("an error and a key")
			}
			return
		}
		if len(data) > maxKeyFileSize {
			t.Fatalf("accepted %d bytes, the limit is %d", len(data), maxKeyFileSize)
		}
		canonical := keyFileHeader + "\n" + hex.EncodeToString(k.Seed()) + "\n"
		normalized := strings.ReplaceAll(string(data), "\r\n", "\n")
		if strings.ToLower(normalized) != strings.ToLower(canonical) || !strings.HasPrefix(normalized, keyFileHeader+"\n") {
			t.Fatalf("accepted %q, which is not the file of the key it gave (%q)", data, canonical)
		}
		// The key signs and verifies like any other.
		msg := []byte("fuzz")
		if !(Ed25519Verifier{}).Verify(k.PublicKey(), msg, k.Sign(msg)) {
			t.Fatal("a parsed key's signature does not verify")
		}
	})
}

// FuzzParsePublicKeyHex: a public key from a cluster file parses only as
// exactly 32 bytes of hex, never panics, and prints back as its input.
func FuzzParsePublicKeyHex(f *testing.F) {
	for _, s := range []string{
		strings.Repeat("ab", PublicKeySize), strings.Repeat("AB", PublicKeySize),
		strings.Repeat("ab", PublicKeySize-1), strings.Repeat("ab", PublicKeySize) + "a",
		"", "zz", " " + strings.Repeat("00", PublicKeySize),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		pub, err := ParsePublicKeyHex(s)
		if err != nil {
			return
		}
		if len(pub) != PublicKeySize {
			t.Fatalf("accepted a %d-byte key", len(pub))
		}
		if pub.Hex() != strings.ToLower(s) {
			t.Fatalf("%q parsed to %s", s, pub.Hex())
		}
	})
}

// FuzzVerify: signatures and keys come off the network, so Verify must
// answer false, never panic, on anything; it accepts a signature only for
// the message signed (flipping any input bit makes it fail).
func FuzzVerify(f *testing.F) {
	k, err := NewPrivateKeyFromSeed(bytes.Repeat([]byte{7}, seedSize))
	if err != nil {
		f.Fatal(err)
	}
	msg := []byte("a transcript")
	f.Add([]byte(k.PublicKey()), msg, k.Sign(msg))
	f.Add([]byte(k.PublicKey()), msg, make([]byte, SignatureSize))
	f.Add([]byte(k.PublicKey()[:31]), msg, k.Sign(msg))
	f.Add(make([]byte, PublicKeySize), []byte{}, bytes.Repeat([]byte{0xff}, SignatureSize))
	f.Add([]byte{}, []byte{}, []byte{})
	f.Fuzz(func(t *testing.T, pub, msg, sig []byte) {
		if !(Ed25519Verifier{}).Verify(pub, msg, sig) {
			return
		}
		if len(pub) != PublicKeySize || len(sig) != SignatureSize {
			t.Fatalf("accepted a %d-byte key or a %d-byte signature", len(pub), len(sig))
		}
		flipped := append([]byte(nil), msg...)
		flipped = append(flipped, 0)
		if (Ed25519Verifier{}).Verify(pub, flipped, sig) {
			t.Fatal("a signature verifies for two messages")
		}
	})
}

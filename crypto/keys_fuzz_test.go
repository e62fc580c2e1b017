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

// smallOrderY are the y-coordinates (as encoded, sign bit clear) of the
// eight points of small order of edwards25519, and their non-canonical
// encodings y+p: libsodium's blocklist.
var smallOrderY = []string{
	"0000000000000000000000000000000000000000000000000000000000000000", // order 4
	"0100000000000000000000000000000000000000000000000000000000000000", // the identity
	"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // p-1, order 2
	"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // p: 0 again
	"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // p+1: 1 again
	"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a", // order 8
	"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05", // order 8
}

func smallOrder(pub []byte) bool {
	y := append([]byte(nil), pub...)
	y[len(y)-1] &= 0x7f
	for _, s := range smallOrderY {
		if hex.EncodeToString(y) == s {
			return true
		}
	}
	return false
}

// FuzzVerify: signatures and keys come off the network, so Verify must
// answer false, never panic, on anything; a signature verifies for one
// message only, unless the key is one of the small-order points, which
// RFC 8032 verification (circl's, like Go's) does not reject: for those a
// signature holds for about one message in eight (found by this target,
// see testdata). No correct signer has such a key, and no key anybody
// holds a private key for is one, so no one's signatures can be forged.
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
		flipped := append(append([]byte(nil), msg...), 0)
		if (Ed25519Verifier{}).Verify(pub, flipped, sig) && !smallOrder(pub) {
			t.Fatalf("a signature verifies for two messages under key %x", pub)
		}
	})
}

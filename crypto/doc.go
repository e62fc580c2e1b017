// Package crypto holds Bulwark's keys, signing and verification, the
// canonical domain-separated bytes that are signed, and parallel batch
// verification.
//
// Signatures are Ed25519 (RFC 8032, pure variant) computed with
// github.com/cloudflare/circl. Protocol code depends only on the Signer and
// Verifier interfaces, so the deterministic simulator can substitute the
// cheap keyed-hash scheme in crypto/cryptotest.
//
// Everything that is signed is built with a Transcript, never with a
// protobuf encoding: protobuf serialization is not canonical (field order,
// unknown fields and varint forms may differ between encoders), so two honest
// replicas could disagree on the bytes behind one signature.
//
// This package imports only the standard library and circl.
package crypto

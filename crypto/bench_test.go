package crypto

import "testing"

func BenchmarkSign(b *testing.B) {
	k := mustKey(b, 1)
	msg := NewTranscript("prepare", "bench").Uint64(1).Uint64(2).Digest(Hash([]byte("x"))).Sum()
	b.ReportAllocs()
	for b.Loop() {
		k.Sign(msg)
	}
}

func BenchmarkVerify(b *testing.B) {
	k := mustKey(b, 1)
	msg := NewTranscript("prepare", "bench").Uint64(1).Uint64(2).Digest(Hash([]byte("x"))).Sum()
	pub, sig := k.PublicKey(), k.Sign(msg)
	var v Ed25519Verifier
	b.ReportAllocs()
	for b.Loop() {
		if !v.Verify(pub, msg, sig) {
			b.Fatal("verify failed")
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sigs/s")
}

func BenchmarkVerifyBatch(b *testing.B) {
	const n = 1024
	items := make([]Item, n)
	k := mustKey(b, 1)
	for i := range items {
		msg := NewTranscript("prepare", "bench").Uint64(uint64(i)).Sum()
		items[i] = Item{PublicKey: k.PublicKey(), Message: msg, Signature: k.Sign(msg)}
	}
	var v Ed25519Verifier
	b.ReportAllocs()
	for b.Loop() {
		VerifyBatch(v, items)
	}
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "sigs/s")
}

func BenchmarkTranscript(b *testing.B) {
	d := Hash([]byte("x"))
	b.ReportAllocs()
	for b.Loop() {
		NewTranscript("prepare", "cluster-1").Uint64(1).Uint64(2).Digest(d).Uint32(3).Sum()
	}
}

package storage

import "testing"

// benchBatch is what a typical Ready persists: a pre-prepare carrying a
// request batch (value-log sized), the replica's prepare and its commit.
func benchBatch(seq uint64) []Record {
	return []Record{
		{Kind: KindPrePrepare, Sequence: seq, View: 1, Replica: 0, Data: pattern(4096, byte(seq))},
		{Kind: KindPrepare, Sequence: seq, View: 1, Replica: 2, Data: pattern(200, byte(seq))},
		{Kind: KindCommit, Sequence: seq, View: 1, Replica: 2, Data: pattern(200, byte(seq+1))},
	}
}

func benchWrite(b *testing.B, sync bool) {
	db, _ := openTemp(b)
	b.ReportAllocs()
	b.SetBytes(4096 + 200 + 200)
	seq := uint64(0)
	for b.Loop() {
		seq++
		if err := db.Write(benchBatch(seq), sync); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWriteSync is one 3-record batch made durable before returning.
func BenchmarkWriteSync(b *testing.B) { benchWrite(b, true) }

// BenchmarkWriteNoSync is the same batch without asking for durability.
func BenchmarkWriteNoSync(b *testing.B) { benchWrite(b, false) }

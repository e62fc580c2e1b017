package crypto

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
)

// TestTranscriptKnownAnswer pins the exact bytes of one transcript. If this
// fails, the signed format changed: every deployed signature and every other
// implementation breaks. Change the magic version instead of editing this.
func TestTranscriptKnownAnswer(t *testing.T) {
	var d Digest
	for i := range d {
		d[i] = byte(i)
	}
	got := NewTranscript("prepare", "cluster-1").
		Uint64(0x0102030405060708).
		Uint32(0x0a0b0c0d).
		Digest(d).
		Bytes([]byte("hi")).
		Bytes(nil).
		Sum()
	want := strings.Join([]string{
		"62756c7761726b2f7631",            // "bulwark/v1"
		"07" + "70726570617265",           // len 7, "prepare"
		"00000009" + "636c75737465722d31", // len 9, "cluster-1"
		"0102030405060708",                // Uint64
		"0a0b0c0d",                        // Uint32
		"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", // Digest
		"00000002" + "6869", // Bytes("hi")
		"00000000",          // Bytes(nil)
	}, "")
	if hex.EncodeToString(got) != want {
		t.Fatalf("transcript bytes changed:\n got %x\nwant %s", got, want)
	}
}

// TestTranscriptDocExample checks the example in the Transcript doc comment.
func TestTranscriptDocExample(t *testing.T) {
	got := NewTranscript("ab", "c").Uint32(1).Bytes([]byte{0xff}).Sum()
	want := "62756c7761726b2f7631" + "026162" + "0000000163" + "00000001" + "00000001ff"
	if hex.EncodeToString(got) != want {
		t.Fatalf("got %x, want %s", got, want)
	}
}

func TestTranscriptDistinct(t *testing.T) {
	d1, d2 := Hash([]byte("1")), Hash([]byte("2"))
	cases := []struct {
		name string
		sum  []byte
	}{
		{"base", NewTranscript("prepare", "c1").Uint64(1).Digest(d1).Sum()},
		{"other tag", NewTranscript("commit", "c1").Uint64(1).Digest(d1).Sum()},
		{"other cluster", NewTranscript("prepare", "c2").Uint64(1).Digest(d1).Sum()},
		{"other uint64", NewTranscript("prepare", "c1").Uint64(2).Digest(d1).Sum()},
		{"other digest", NewTranscript("prepare", "c1").Uint64(1).Digest(d2).Sum()},
		{"empty cluster", NewTranscript("prepare", "").Uint64(1).Digest(d1).Sum()},
		// Tag/cluster boundary: the length prefixes keep these apart.
		{"tag absorbs cluster", NewTranscript("preparec", "1").Uint64(1).Digest(d1).Sum()},
		{"bytes ab+c", NewTranscript("t", "c").Bytes([]byte("ab")).Bytes([]byte("c")).Sum()},
		{"bytes a+bc", NewTranscript("t", "c").Bytes([]byte("a")).Bytes([]byte("bc")).Sum()},
		{"bytes abc", NewTranscript("t", "c").Bytes([]byte("abc")).Sum()},
		{"bytes empty+abc", NewTranscript("t", "c").Bytes(nil).Bytes([]byte("abc")).Sum()},
		{"uint32 1", NewTranscript("t", "c").Uint32(1).Sum()},
		{"uint32 2", NewTranscript("t", "c").Uint32(2).Sum()},
		{"uint64 1", NewTranscript("t", "c").Uint64(1).Sum()},
	}
	seen := map[string]string{}
	for _, c := range cases {
		if prev, ok := seen[string(c.sum)]; ok {
			t.Errorf("%q and %q give the same bytes %x", prev, c.name, c.sum)
		}
		seen[string(c.sum)] = c.name
	}
}

func TestTranscriptSumIsCopy(t *testing.T) {
	tr := NewTranscript("t", "c").Uint32(7)
	first := tr.Sum()
	keep := bytes.Clone(first)
	first[0] ^= 0xff // caller scribbles on its copy
	tr.Uint32(8)     // and the transcript grows
	if again := tr.Sum(); !bytes.HasPrefix(again, keep) {
		t.Errorf("transcript corrupted by caller: %x", again)
	}
}

func TestTranscriptBadTagPanics(t *testing.T) {
	for _, tag := range []string{"", strings.Repeat("x", 256)} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("tag of length %d: want panic", len(tag))
				}
			}()
			NewTranscript(tag, "c")
		}()
	}
	// 255 is the longest encodable tag.
	if got := NewTranscript(strings.Repeat("x", 255), "").Sum(); got[10] != 255 {
		t.Errorf("length byte = %d, want 255", got[10])
	}
}

package pbft

import (
	"crypto/sha256"
	"encoding/binary"

	"github.com/bulwark-bft/bulwark/crypto"
)

// The state digest a checkpoint certifies is the root of a hash tree over
// the state blob (stateblob.go) cut into StateChunkSize chunks, with the
// blob's length. Every correct replica encodes the same state into the same
// bytes (the service's snapshot is canonical by contract), so 2f+1 matching
// checkpoints certify each chunk: a replica fetching the state checks every
// chunk against the root as it arrives, and drops a source after one bad
// chunk instead of after a whole state of junk.

// stateTree is the hash tree over a blob's chunks: levels[0] are the leaves,
// the last level the root. A node without a sibling moves up unchanged.
type stateTree struct {
	levels [][]crypto.Digest
	size   int // bytes of the blob
}

// treeHasher hashes leaves and nodes under the cluster's domain prefixes,
// built once per tree.
type treeHasher struct {
	leafPrefix, nodePrefix, buf []byte
}

func newTreeHasher(cluster string) *treeHasher {
	return &treeHasher{leafPrefix: domain("state-chunk", cluster), nodePrefix: domain("state-node", cluster)}
}

func domain(tag, cluster string) []byte {
	b := append([]byte{byte(len(tag))}, tag...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(cluster)))
	return append(b, cluster...)
}

func (h *treeHasher) leaf(index uint64, data []byte) crypto.Digest {
	d := sha256.New()
	d.Write(h.leafPrefix)
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], index)
	d.Write(n[:])
	d.Write(data)
	var out crypto.Digest
	d.Sum(out[:0])
	return out
}

func (h *treeHasher) node(left, right crypto.Digest) crypto.Digest {
	h.buf = append(append(append(h.buf[:0], h.nodePrefix...), left[:]...), right[:]...)
	return sha256.Sum256(h.buf)
}

// chunkCount is how many chunks a blob of size bytes has (at least one).
func chunkCount(size, chunk int) int { return max(1, (size+chunk-1)/chunk) }

func buildTree(cluster string, blob []byte, chunk int) *stateTree {
	h := newTreeHasher(cluster)
	n := chunkCount(len(blob), chunk)
	leaves := make([]crypto.Digest, n)
	for i := range n {
		lo := i * chunk
		leaves[i] = h.leaf(uint64(i), blob[lo:min(lo+chunk, len(blob))])
	}
	t := &stateTree{levels: [][]crypto.Digest{leaves}, size: len(blob)}
	for level := leaves; len(level) > 1; {
		next := make([]crypto.Digest, (len(level)+1)/2)
		for i := range next {
			if 2*i+1 < len(level) {
				next[i] = h.node(level[2*i], level[2*i+1])
			} else {
				next[i] = level[2*i]
			}
		}
		t.levels = append(t.levels, next)
		level = next
	}
	return t
}

func (t *stateTree) root() crypto.Digest { return t.levels[len(t.levels)-1][0] }

// proof is the sibling hashes on chunk i's path to the root, bottom up
// (levels where it has no sibling contribute none).
func (t *stateTree) proof(i int) [][]byte {
	var out [][]byte
	for _, level := range t.levels[:len(t.levels)-1] {
		if sib := i ^ 1; sib < len(level) {
			out = append(out, append([]byte(nil), level[sib][:]...))
		}
		i /= 2
	}
	return out
}

// verifyChunk checks chunk i of n against root with its proof.
func verifyChunk(cluster string, root crypto.Digest, i, n int, data []byte, proof [][]byte) bool {
	if i < 0 || i >= n {
		return false
	}
	th := newTreeHasher(cluster)
	h := th.leaf(uint64(i), data)
	used := 0
	for width := n; width > 1; width = (width + 1) / 2 {
		if sib := i ^ 1; sib < width {
			if used >= len(proof) || len(proof[used]) != crypto.DigestSize {
				return false
			}
			s := crypto.Digest(proof[used])
			used++
			if i%2 == 0 {
				h = th.node(h, s)
			} else {
				h = th.node(s, h)
			}
		}
		i /= 2
	}
	return used == len(proof) && h == root
}

// stateDigestOf is the digest checkpoints sign for a state blob with this
// tree root and length.
func stateDigestOf(cluster string, root crypto.Digest, size int) crypto.Digest {
	return crypto.Hash(crypto.NewTranscript(tagState, cluster).Digest(root).Uint64(uint64(size)).Sum())
}

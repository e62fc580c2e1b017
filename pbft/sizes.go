package pbft

import (
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/pbft/wire"
)

// Every message a replica may be made to send must fit the transport's frame,
// whatever clients send: otherwise it is never delivered, and (for a
// VIEW-CHANGE) the cluster can never change views again. Batches are bounded
// in bytes, VIEW-CHANGE and NEW-VIEW carry batch digests only, and New checks
// the largest instance of each message the configuration allows against
// MaxMessageSize.

// batchBytes is what a batch of requests counts against MaxBatchBytes.
func batchBytes(reqs []*wire.Request) int {
	n := 0
	for _, req := range reqs {
		n += proto.Size(req)
	}
	return n
}

// MaxRequestSize is the encoded size of the largest request an operation
// of opSize bytes makes: what a batch's byte limit must hold at least.
func MaxRequestSize(opSize int) int { return maxRequestSize(opSize) }

func maxRequestSize(opSize int) int {
	return proto.Size(&wire.Request{
		ClientKey: make([]byte, crypto.PublicKeySize), Session: math.MaxUint64, Timestamp: math.MaxUint64,
		ReadOnly: true, Signature: make([]byte, crypto.SignatureSize),
	}) + protowire.SizeTag(4) + protowire.SizeBytes(opSize)
}

// field is the size of a length-delimited field with a body of n bytes.
func field(num protowire.Number, n int) int { return protowire.SizeTag(num) + protowire.SizeBytes(n) }

// largestBatch is the encoded size of the requests field of the largest
// batch (as many of the largest requests as fit MaxBatchBytes, then the
// rest of the bytes in one more, within MaxBatchSize), given the field
// number they are repeated under.
func largestBatch(cfg Config, num protowire.Number) int {
	size, used := 0, 0
	for range cfg.MaxBatchSize {
		op := min(cfg.MaxOperationSize, cfg.MaxBatchBytes-used-maxRequestSize(0))
		if op < 0 {
			break
		}
		req := maxRequestSize(op)
		used += req
		size += field(num, req)
	}
	return size
}

// MessageSizes are the largest encodings of the messages whose size the
// configuration bounds.
type MessageSizes struct {
	PrePrepare, ViewChange, NewView, StateChunk, Batch int
}

// WorstCaseSizes computes the largest pre-prepare, VIEW-CHANGE, NEW-VIEW,
// state chunk and batch answer cfg allows, each wrapped in its Message.
// Repeated parts share one value, so this stays cheap for large clusters.
func WorstCaseSizes(cfg Config) MessageSizes {
	cfg = cfg.withDefaults()
	n := len(cfg.Replicas)
	f := (n - 1) / 3
	digest := make([]byte, crypto.DigestSize)
	sig := make([]byte, crypto.SignatureSize)
	const big = math.MaxUint64
	header := &wire.PrePrepare{View: big, Sequence: big, Digest: digest, Replica: math.MaxUint32, Signature: sig}
	prepare := &wire.Prepare{View: big, Sequence: big, Digest: digest, Replica: math.MaxUint32, Signature: sig}
	checkpoint := &wire.Checkpoint{Sequence: big, StateDigest: digest, Replica: math.MaxUint32, Signature: sig}
	// Repeated fields add up field by field: size them once and multiply,
	// so this costs nothing even for large clusters and windows.
	cert := proto.Size(&wire.PreparedCertificate{PrePrepare: header}) + 2*f*field(2, proto.Size(prepare))
	window := int(cfg.WindowSize)
	vc := proto.Size(&wire.ViewChange{NewView: big, StableSequence: big, Replica: math.MaxUint32, Signature: sig}) +
		n*field(3, proto.Size(checkpoint)) + window*field(4, cert)
	// A NEW-VIEW carries its view changes without their suspicions.
	nv := proto.Size(&wire.NewView{View: big, Replica: math.MaxUint32, Signature: sig}) +
		n*field(2, vc) + window*field(3, proto.Size(header))
	suspicion := proto.Size(&wire.Suspicion{View: big, Replica: math.MaxUint32, Signature: sig})
	vc += (f + 1) * field(7, suspicion)
	chunk := &wire.StateChunk{Sequence: big, Chunk: math.MaxUint32, Chunks: math.MaxUint32,
		Certificate: repeat(checkpoint, n), Replica: math.MaxUint32,
		Root: digest, Size: big, Proof: repeat2(digest, 64)}
	batch := &wire.Batch{Sequence: big, Digest: digest, Replica: math.MaxUint32}
	// Field numbers of the oneof (Message) and of the requests and data.
	const inPrePrepare, inViewChange, inNewView, inStateChunk, inBatch = 3, 7, 8, 12, 14
	const ppRequests, batchRequests, chunkData = 4, 3, 4
	ppSize := proto.Size(header) + largestBatch(cfg, ppRequests)
	batchSize := proto.Size(batch) + largestBatch(cfg, batchRequests)
	chunkSize := proto.Size(chunk) + field(chunkData, cfg.StateChunkSize)
	return MessageSizes{
		PrePrepare: field(inPrePrepare, ppSize),
		ViewChange: field(inViewChange, vc),
		NewView:    field(inNewView, nv),
		StateChunk: field(inStateChunk, chunkSize),
		Batch:      field(inBatch, batchSize),
	}
}

// repeat2 is n copies of one byte slice (a proof's sibling hashes: a tree
// of 2^64 chunks is at most 64 deep).
func repeat2(b []byte, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = b
	}
	return out
}

func repeat[T any](x *T, n int) []*T {
	out := make([]*T, n)
	for i := range out {
		out[i] = x
	}
	return out
}

// checkMessageSizes refuses a configuration under which some message the
// replica must be able to send would not fit the transport.
func (c Config) checkMessageSizes() error {
	s := WorstCaseSizes(c)
	for _, m := range []struct {
		name string
		size int
		fix  string
	}{
		{"pre-prepare", s.PrePrepare, "lower max batch bytes"},
		{"batch", s.Batch, "lower max batch bytes"},
		{"view change", s.ViewChange, "lower the window or the number of replicas"},
		{"new view", s.NewView, "lower the window or the number of replicas"},
		{"state chunk", s.StateChunk, "lower the state chunk size"},
	} {
		if m.size > c.MaxMessageSize {
			return fmt.Errorf("%w: the largest %s is %d bytes, above the max message size %d: %s",
				ErrConfig, m.name, m.size, c.MaxMessageSize, m.fix)
		}
	}
	return nil
}

package network

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"runtime/metrics"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"

	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/pbft/wire"
)

// fuzzMaxFrames are the frame limits a fuzz input chooses among: tiny, the
// default, and the largest a Config accepts (where allocating a declared
// length up front would cost a gigabyte).
var fuzzMaxFrames = []int{64, 4096, DefaultMaxFrameSize, 1 << 30}

// stingyReader hands out at most step bytes per Read, like a stream whose
// bytes arrive in pieces, and counts what it handed out.
type stingyReader struct {
	data []byte
	step int
	read int
}

func (s *stingyReader) Read(p []byte) (int, error) {
	if s.read == len(s.data) {
		return 0, io.EOF
	}
	n := min(len(p), s.step, len(s.data)-s.read)
	copy(p, s.data[s.read:s.read+n])
	s.read += n
	return n, nil
}

func fuzzFrameSeeds() []*wire.Message {
	d := bytes.Repeat([]byte{0xd1}, 32)
	sig := bytes.Repeat([]byte{0x51}, 64)
	req := &wire.Request{ClientKey: bytes.Repeat([]byte{0xc1}, 32), Session: 1, Timestamp: 7, Operation: []byte("put k v"), Signature: sig}
	cp := &wire.Checkpoint{Sequence: 64, StateDigest: d, Replica: 2, Signature: sig}
	pp := &wire.PrePrepare{View: 1, Sequence: 5, Digest: d, Requests: []*wire.Request{req, req}, Replica: 1, Signature: sig}
	prep := &wire.Prepare{View: 1, Sequence: 5, Digest: d, Replica: 2, Signature: sig}
	vc := &wire.ViewChange{NewView: 2, StableSequence: 64, CheckpointProof: []*wire.Checkpoint{cp, cp, cp},
		Prepared: []*wire.PreparedCertificate{{PrePrepare: pp, Prepares: []*wire.Prepare{prep, prep}}}, Replica: 3, Signature: sig}
	return []*wire.Message{
		{Content: &wire.Message_Request{Request: req}},
		{Content: &wire.Message_PrePrepare{PrePrepare: pp}},
		{Content: &wire.Message_Prepare{Prepare: prep}},
		{Content: &wire.Message_Commit{Commit: &wire.Commit{View: 1, Sequence: 5, Digest: d, Replica: 0, Signature: sig}}},
		{Content: &wire.Message_Checkpoint{Checkpoint: cp}},
		{Content: &wire.Message_Reply{Reply: &wire.Reply{View: 1, ClientKey: req.ClientKey, Timestamp: 7, Replica: 1, Result: []byte{0}}}},
		{Content: &wire.Message_Status{Status: &wire.Status{View: 1, LastExecuted: 70, StableSequence: 64, Replica: 1, StateDigest: d}}},
		{Content: &wire.Message_FetchState{FetchState: &wire.FetchState{Sequence: 65, Replica: 3, Chunk: 1}}},
		{Content: &wire.Message_StateChunk{StateChunk: &wire.StateChunk{Sequence: 64, Chunk: 0, Chunks: 2, Data: []byte("state"), Certificate: []*wire.Checkpoint{cp}, Replica: 2}}},
		{Content: &wire.Message_ViewChange{ViewChange: vc}},
		{Content: &wire.Message_NewView{NewView: &wire.NewView{View: 2, ViewChanges: []*wire.ViewChange{vc}, PrePrepares: []*wire.PrePrepare{pp}, Replica: 2, Signature: sig}}},
	}
}

// allocatedBytes is the bytes allocated on the heap so far, without
// stopping the world as runtime.ReadMemStats would on every input.
func allocatedBytes() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

func header(n uint32) []byte { return binary.BigEndian.AppendUint32(nil, n) }

// FuzzFrameReader reads frames from an arbitrary byte stream, arriving in
// pieces. It never panics; a frame declaring more than the limit is refused
// having read only its header; memory grows with the bytes that arrived,
// never with a length a peer merely declared; every message it returns is
// non-empty, survives encoding and decoding again unchanged, and stays
// unchanged while the reader goes on (it reuses its buffer).
func FuzzFrameReader(f *testing.F) {
	var stream []byte
	for _, m := range fuzzFrameSeeds() {
		frame, err := encodeFrame(m, DefaultMaxFrameSize)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(frame, byte(1), byte(0))
		stream = append(stream, frame...)
	}
	f.Add(stream, byte(2), byte(7))
	f.Add(stream[:len(stream)-3], byte(2), byte(255))
	f.Add(header(1<<30), byte(3), byte(0))                                 // declares a gigabyte, sends nothing
	f.Add(append(header(1<<30-1), make([]byte, 100)...), byte(3), byte(3)) // a gigabyte, 100 bytes of it
	f.Add(header(65), byte(0), byte(0))                                    // over the tiny limit
	f.Add(header(0), byte(1), byte(0))                                     // an empty envelope
	f.Add(append(header(3), 0x0a, 0x01, 0xff), byte(1), byte(0))           // truncated field
	f.Add(append(header(2), 0xf8, 0x07), byte(1), byte(0))                 // only an unknown field
	f.Add([]byte{0, 0}, byte(1), byte(0))                                  // truncated header
	f.Fuzz(func(t *testing.T, data []byte, maxSel, step byte) {
		max := fuzzMaxFrames[int(maxSel)%len(fuzzMaxFrames)]
		in := &stingyReader{data: data, step: 1 + int(step)}
		fr := frameReader{r: in, max: max}

		before := allocatedBytes()
		frames := 0
		type decoded struct {
			m   *wire.Message
			enc []byte
		}
		var got []decoded
		var err error
		for {
			start := in.read
			var m *wire.Message
			m, err = fr.next()
			if err != nil {
				checkFrameError(t, err, data[start:], in.read-start, max)
				break
			}
			frames++
			checkFrameMessage(t, m, max)
			enc, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, decoded{m, enc})
		}
		// The reader reuses its buffer: what it returned must not change
		// as later frames arrive.
		for i, d := range got {
			if enc, _ := (proto.MarshalOptions{Deterministic: true}).Marshal(d.m); !bytes.Equal(enc, d.enc) {
				t.Fatalf("message %d of %d changed while later frames were read", i, len(got))
			}
		}
		// Per frame at most a first buffer of readChunk, then buffers that
		// at most double what arrived; decoding allocates a bounded multiple
		// of the encoded size (each 2-byte empty submessage is a struct).
		limit := uint64(frames+1)*4*readChunk + 512*uint64(len(data)) + 1<<20
		if grew := allocatedBytes() - before; grew > limit {
			t.Fatalf("reading %d bytes (%d frames, max %d) allocated %d bytes", len(data), frames, max, grew)
		}

		// Streams are read through a buffered reader, whose bodies that fit
		// are decoded in place: the same bytes must give the same messages
		// and end the same way. A small buffer takes both paths.
		br := frameReader{r: bufio.NewReaderSize(&stingyReader{data: data, step: 1 + int(step)}, 64), max: max}
		for i := 0; ; i++ {
			m, berr := br.next()
			if berr != nil {
				if i != len(got) || frameErrorClass(berr) != frameErrorClass(err) {
					t.Fatalf("buffered reader ended after %d frames with %v; unbuffered after %d with %v", i, berr, len(got), err)
				}
				break
			}
			if i >= len(got) || !proto.Equal(m, got[i].m) {
				t.Fatalf("buffered reader's frame %d differs", i)
			}
		}
	})
}

// frameErrorClass names the kind of error that ended a stream.
func frameErrorClass(err error) string {
	for _, e := range []error{io.ErrUnexpectedEOF, io.EOF, errFrameTooLarge, errMalformed} {
		if errors.Is(err, e) {
			return e.Error()
		}
	}
	return "other: " + err.Error()
}

// checkFrameError checks the error that ended a stream whose unread rest
// was rest when the failing frame began; consumed bytes of it were read.
func checkFrameError(t *testing.T, err error, rest []byte, consumed, max int) {
	t.Helper()
	switch {
	case errors.Is(err, io.EOF):
		if len(rest) != 0 {
			t.Fatalf("clean EOF with %d bytes left", len(rest))
		}
	case errors.Is(err, io.ErrUnexpectedEOF):
		if len(rest) >= frameHeaderLen && int(binary.BigEndian.Uint32(rest)) <= len(rest)-frameHeaderLen {
			t.Fatal("a complete frame reported as truncated")
		}
		if len(rest) == 0 {
			t.Fatal("truncation reported at a frame boundary")
		}
	case errors.Is(err, errFrameTooLarge):
		if n := binary.BigEndian.Uint32(rest); uint64(n) <= uint64(max) {
			t.Fatalf("frame of %d bytes refused, max %d", n, max)
		}
		if consumed != frameHeaderLen {
			t.Fatalf("read %d bytes of a frame over the limit; only its header should be", consumed)
		}
	case errors.Is(err, errMalformed):
		if consumed != frameHeaderLen+int(binary.BigEndian.Uint32(rest)) {
			t.Fatal("a malformed frame was not read to its end")
		}
	default:
		t.Fatalf("unexpected error: %v", err)
	}
}

func checkFrameMessage(t *testing.T, m *wire.Message, max int) {
	t.Helper()
	if m == nil || m.GetContent() == nil {
		t.Fatal("a frame without content was accepted")
	}
	frame, err := encodeFrame(m, max)
	if err != nil {
		t.Fatalf("an accepted message does not encode again within the limit: %v", err)
	}
	again, err := (&frameReader{r: bytes.NewReader(frame), max: max}).next()
	if err != nil {
		t.Fatalf("a re-encoded message does not decode: %v", err)
	}
	if !proto.Equal(m, again) {
		t.Fatal("a message changed through encoding and decoding")
	}
}

// FuzzEd25519KeyOf takes the key out of arbitrary peer ids, as the gater and
// the client handler do for every connecting peer: never a panic, and a key
// it returns is an ed25519 key whose own peer id is the one given.
func FuzzEd25519KeyOf(f *testing.F) {
	k, err := crypto.NewPrivateKeyFromSeed(bytes.Repeat([]byte{3}, 32))
	if err != nil {
		f.Fatal(err)
	}
	id, err := PeerIDOf(k.PublicKey())
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(id))
	f.Add([]byte(id)[:len(id)-1])
	f.Add([]byte{0x12, 0x20}) // sha2-256 multihash header: a key not inlined
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		key, err := ed25519KeyOf(peer.ID(b))
		if err != nil {
			return
		}
		if len(key) != crypto.PublicKeySize {
			t.Fatalf("a %d-byte ed25519 key", len(key))
		}
		back, err := PeerIDOf(key)
		if err != nil {
			t.Fatalf("the key taken from a peer id has no peer id: %v", err)
		}
		if back != peer.ID(b) {
			t.Fatalf("peer id %x holds a key whose peer id is %x", b, []byte(back))
		}
	})
}

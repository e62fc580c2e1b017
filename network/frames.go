package network

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"google.golang.org/protobuf/proto"

	"github.com/bulwark-bft/bulwark/pbft/wire"
)

// frameHeaderLen is the size of a frame's big-endian uint32 length prefix.
const frameHeaderLen = 4

// readChunk is the largest allocation made before frame bytes arrive: a
// peer announcing a large frame gets memory only as fast as it sends bytes,
// so announcing MaxFrameSize and stalling costs it, not us.
const readChunk = 64 << 10

var (
	errFrameTooLarge = errors.New("frame too large")
	errMalformed     = errors.New("malformed message")
)

// encodeFrame marshals m behind its length prefix, in one buffer so a frame
// goes out in one write. Messages over max are refused here: the receiver
// would drop them anyway.
func encodeFrame(m *wire.Message, max int) ([]byte, error) {
	size := proto.Size(m)
	if size > max {
		return nil, fmt.Errorf("%w: %d bytes, max %d", errFrameTooLarge, size, max)
	}
	buf := make([]byte, frameHeaderLen, frameHeaderLen+size)
	binary.BigEndian.PutUint32(buf, uint32(size))
	buf, err := proto.MarshalOptions{}.MarshalAppend(buf, m)
	if err != nil {
		return nil, fmt.Errorf("network: marshal: %w", err)
	}
	if len(buf)-frameHeaderLen != size { // proto.Size and Marshal disagree: never expected
		return nil, fmt.Errorf("network: marshal: size %d, wrote %d", size, len(buf)-frameHeaderLen)
	}
	return buf, nil
}

// frameReader reads frames from one stream.
type frameReader struct {
	r   io.Reader
	max int
	hdr [frameHeaderLen]byte
	// buf is reused for bodies up to readChunk: proto.Unmarshal copies
	// what it keeps, so a body need not outlive its decoding.
	buf []byte
}

// next returns the next message. Errors wrap errFrameTooLarge or
// errMalformed for bad input, or are the stream's own read error.
func (fr *frameReader) next() (*wire.Message, error) {
	if _, err := io.ReadFull(fr.r, fr.hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(fr.hdr[:])
	if uint64(n) > uint64(fr.max) {
		return nil, fmt.Errorf("%w: %d bytes, max %d", errFrameTooLarge, n, fr.max)
	}
	var body []byte
	var err error
	if int(n) <= readChunk {
		if fr.buf == nil {
			fr.buf = make([]byte, readChunk)
		}
		body = fr.buf[:n]
		if _, err = io.ReadFull(fr.r, body); errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF // EOF inside a frame is a truncated frame
		}
	} else {
		body, err = readBody(fr.r, int(n))
	}
	if err != nil {
		return nil, err
	}
	m := &wire.Message{}
	if err := proto.Unmarshal(body, m); err != nil {
		return nil, fmt.Errorf("%w: %w", errMalformed, err)
	}
	// An empty envelope (or one holding only unknown fields) carries nothing
	// the core could act on; treating it as malformed keeps peers honest.
	if m.GetContent() == nil {
		return nil, fmt.Errorf("%w: empty message", errMalformed)
	}
	return m, nil
}

// readBody reads exactly n bytes, growing the buffer as bytes arrive (never
// past n) instead of allocating n up front.
func readBody(r io.Reader, n int) ([]byte, error) {
	buf := make([]byte, 0, min(n, readChunk))
	for len(buf) < n {
		if len(buf) == cap(buf) {
			grown := make([]byte, len(buf), min(2*cap(buf), n))
			copy(grown, buf)
			buf = grown
		}
		k, err := io.ReadFull(r, buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+k]
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF // EOF inside a frame is a truncated frame
			}
			return nil, err
		}
	}
	return buf, nil
}

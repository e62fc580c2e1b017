package network

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"

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
	errFrameStalled  = errors.New("frame body stalled")
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
	// gate, if set, admits each body before it is read: it reserves the
	// body's bytes from the frame budget and bounds how long they may take
	// to arrive. The reservation outlives next, which returns a message
	// still to be delivered; release gives it back.
	gate *bodyGate
	held int64
	// pace, if set, is waited on before each body is read.
	pace *streamRate
	ctx  context.Context
}

// next returns the next message. Errors wrap errFrameTooLarge, errMalformed,
// errBudget or errFrameStalled for bad input, or are the stream's own read
// error. It first releases what the previous frame held.
func (fr *frameReader) next() (*wire.Message, error) {
	fr.release()
	if _, err := io.ReadFull(fr.r, fr.hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(fr.hdr[:])
	if uint64(n) > uint64(fr.max) {
		return nil, fmt.Errorf("%w: %d bytes, max %d", errFrameTooLarge, n, fr.max)
	}
	if fr.pace != nil {
		if err := fr.pace.wait(fr.ctx, int(n)); err != nil {
			return nil, err
		}
	}
	if fr.gate != nil {
		if err := fr.gate.reserve(int64(n)); err != nil {
			return nil, err
		}
		fr.held = int64(n)
	}
	body, peeked, err := fr.body(int(n))
	if err != nil {
		return nil, err
	}
	m := &wire.Message{}
	err = proto.Unmarshal(body, m) // copies what it keeps: body may be reused
	if peeked {
		_, _ = fr.r.(*bufio.Reader).Discard(len(body)) // cannot fail: Peek returned these bytes
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errMalformed, err)
	}
	// An empty envelope (or one holding only unknown fields) carries nothing
	// the core could act on; treating it as malformed keeps peers honest.
	if m.GetContent() == nil {
		return nil, fmt.Errorf("%w: empty message", errMalformed)
	}
	return m, nil
}

// detach hands the last frame's reservation to whoever takes its message:
// the returned func gives it back, once however often it is called.
func (fr *frameReader) detach() func() {
	if fr.held == 0 {
		return nil
	}
	gate, held := fr.gate, fr.held
	fr.held = 0
	var once sync.Once
	return func() { once.Do(func() { gate.release(held) }) }
}

// release gives back the budget the last frame held.
func (fr *frameReader) release() {
	if fr.held > 0 {
		fr.gate.release(fr.held)
		fr.held = 0
	}
}

// body reads a body of n bytes. A body that fits the stream's buffered
// reader is read into that buffer (peeked, to be discarded once decoded):
// most frames are small and arrive whole, and then need neither a copy nor
// an allocation, nor a deadline. Others are read into a buffer that grows
// as bytes arrive. While bytes are still to come, the gate's deadline
// bounds how long they may take.
func (fr *frameReader) body(n int) (body []byte, peeked bool, err error) {
	br, _ := fr.r.(*bufio.Reader)
	if fr.gate != nil && (br == nil || br.Buffered() < n) {
		if err := fr.gate.startBody(n); err != nil {
			return nil, false, err
		}
		defer func() {
			if err == nil {
				err = fr.gate.endBody()
			}
		}()
	}
	if br != nil && n <= br.Size() {
		body, err = br.Peek(n)
		peeked = err == nil
	} else {
		body, err = readBody(fr.r, n)
	}
	switch {
	case err == nil:
		return body, peeked, nil
	case errors.Is(err, io.EOF):
		return nil, false, io.ErrUnexpectedEOF // EOF inside a frame is a truncated frame
	case isTimeout(err):
		return nil, false, fmt.Errorf("%w: %d-byte body: %w", errFrameStalled, n, err)
	default:
		return nil, false, err
	}
}

// isTimeout tells a read deadline (ours: only bodies have one) from other
// read errors; yamux and QUIC report it differently.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
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
			return nil, err
		}
	}
	return buf, nil
}

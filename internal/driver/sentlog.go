package driver

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/bulwark-bft/bulwark/pbft"
	"io"
	"log/slog"
	"os"
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/pbft/wire"
)

// SentLog records every signed protocol message a replica sends (pre-prepare,
// prepare, commit, checkpoint, view-change, new-view) in a file of its own,
// outside the replica's store, so a test can audit across crashes what the
// replica really signed and let out (`bulwark replica --record-sent FILE`).
//
// Each message is one frame, a 4-byte big-endian length and the protobuf
// encoding, appended with a single write(2) before the message is handed to
// the network: whatever a peer could have received is in the file. A write to
// the page cache survives a SIGKILL of the process, so no fsync is made (the
// log is for process crashes, not power loss). A crash may leave a torn frame
// at the end; OpenSentLog cuts it off before appending, and ReadSentLog
// tolerates one at the end. A message that could not be recorded is not
// sent.
type SentLog struct {
	mu     sync.Mutex
	f      *os.File
	logger *slog.Logger
	err    error // sticky: the first failed write
	buf    []byte
	last   *wire.Message // the envelope last recorded: a broadcast sends it n-1 times
	// Digests of recently recorded frames: retransmissions of the same
	// message are recorded once. A bounded ring; a repeat older than it is
	// simply recorded again.
	seen map[crypto.Digest]struct{}
	ring []crypto.Digest
	next int
	// Recorded and Repeats count frames written and sends not re-recorded.
	recorded, repeats uint64
}

// sentLogMemory is how many recent frame digests a SentLog remembers.
const sentLogMemory = 4096

// maxSentFrame bounds a frame's declared length when reading; no protocol
// message comes near it.
const maxSentFrame = 256 << 20

// OpenSentLog opens (creating it if needed) the log at path for appending,
// first cutting off a frame a crash left incomplete at its end.
func OpenSentLog(path string, logger *slog.Logger) (*SentLog, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	whole, size, err := completeFrames(f)
	if err == nil && whole < size {
		logger.Warn("sent log: cutting off a torn frame", "path", path, "at", whole, "size", size)
		err = f.Truncate(whole)
	}
	if err != nil {
		return nil, errors.Join(fmt.Errorf("sent log %s: %w", path, err), f.Close())
	}
	return &SentLog{f: f, logger: logger, seen: make(map[crypto.Digest]struct{}, sentLogMemory),
		ring: make([]crypto.Digest, sentLogMemory)}, nil
}

// completeFrames returns the length of the file's prefix of whole frames
// and the file's size.
func completeFrames(f *os.File) (whole, size int64, err error) {
	st, err := f.Stat()
	if err != nil {
		return 0, 0, err
	}
	size = st.Size()
	r := bufio.NewReaderSize(io.NewSectionReader(f, 0, size), 1<<20)
	var hdr [4]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return whole, size, nil // EOF or a torn header
		}
		n := int64(binary.BigEndian.Uint32(hdr[:]))
		if whole+4+n > size {
			return whole, size, nil // a torn body
		}
		if _, err := r.Discard(int(n)); err != nil {
			return 0, 0, err
		}
		whole += 4 + n
	}
}

// Wrap returns t with every signed protocol message it sends recorded first.
func (l *SentLog) Wrap(t pbft.Transport) pbft.Transport {
	return &recordingTransport{Transport: t, log: l}
}

// Close closes the file; later sends of signed messages are dropped.
func (l *SentLog) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err == nil {
		l.err = errors.New("sent log closed")
	}
	return l.f.Close()
}

// Counts returns how many frames were written and how many sends repeated a
// recent frame and were not written again.
func (l *SentLog) Counts() (recorded, repeats uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.recorded, l.repeats
}

// signedMessage reports whether m is one of the replica-signed protocol
// messages the log records.
func signedMessage(m *wire.Message) bool {
	switch m.Content.(type) {
	case *wire.Message_PrePrepare, *wire.Message_Prepare, *wire.Message_Commit,
		*wire.Message_Checkpoint, *wire.Message_ViewChange, *wire.Message_NewView:
		return true
	}
	return false
}

// record appends m unless it was just recorded; false means it could not be
// recorded and must not be sent.
func (l *SentLog) record(m *wire.Message) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return false
	}
	if m == l.last {
		l.repeats++
		return true
	}
	body, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err == nil && len(body) > maxSentFrame {
		err = fmt.Errorf("a %T of %d bytes", m.Content, len(body))
	}
	if err != nil {
		l.fail(err)
		return false
	}
	d := crypto.Hash(body)
	if _, dup := l.seen[d]; dup {
		l.last = m
		l.repeats++
		return true
	}
	l.buf = binary.BigEndian.AppendUint32(l.buf[:0], uint32(len(body)))
	l.buf = append(l.buf, body...)
	if _, err := l.f.Write(l.buf); err != nil {
		l.fail(err)
		return false
	}
	if len(l.buf) > 1<<20 {
		l.buf = nil // do not pin one large pre-prepare's buffer
	}
	l.last = m
	l.recorded++
	if old := l.ring[l.next]; old != (crypto.Digest{}) {
		delete(l.seen, old)
	}
	l.ring[l.next] = d
	l.next = (l.next + 1) % len(l.ring)
	l.seen[d] = struct{}{}
	return true
}

func (l *SentLog) fail(err error) {
	l.err = err
	l.logger.Error("sent log: recording failed; signed messages are no longer sent", "err", err)
}

type recordingTransport struct {
	pbft.Transport
	log *SentLog
}

func (t *recordingTransport) Send(id uint32, m *wire.Message) {
	if signedMessage(m) && !t.log.record(m) {
		return
	}
	t.Transport.Send(id, m)
}

// ReadSentLog returns the messages recorded at path, in the order they were
// sent. torn reports an incomplete frame at the end (a crash while it was
// written; that message was never sent), which is left out.
func ReadSentLog(path string) (msgs []*wire.Message, torn bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	var hdr [4]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return msgs, false, nil
			}
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return msgs, true, nil
			}
			return nil, false, err
		}
		n := binary.BigEndian.Uint32(hdr[:])
		if n > maxSentFrame {
			return nil, false, fmt.Errorf("sent log %s: frame %d declares %d bytes", path, len(msgs), n)
		}
		body := make([]byte, n)
		if _, err := io.ReadFull(r, body); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return msgs, true, nil
			}
			return nil, false, err
		}
		m := new(wire.Message)
		if err := proto.Unmarshal(body, m); err != nil {
			return nil, false, fmt.Errorf("sent log %s: frame %d: %w", path, len(msgs), err)
		}
		msgs = append(msgs, m)
	}
}

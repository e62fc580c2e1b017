package driver_test

import (
	"github.com/bulwark-bft/bulwark/pbft"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/bulwark-bft/bulwark/internal/driver"
	"github.com/bulwark-bft/bulwark/pbft/wire"
)

// sinkTransport counts what reaches the network.
type sinkTransport struct{ sent []*wire.Message }

func (s *sinkTransport) Send(_ uint32, m *wire.Message)   { s.sent = append(s.sent, m) }
func (s *sinkTransport) SendClient(string, *wire.Message) {}
func (s *sinkTransport) Inbound() <-chan pbft.Inbound     { return nil }

// prepareMsg is a prepare for seq whose digest starts with digest.
func prepareMsg(seq uint64, digest byte) *wire.Message {
	d := make([]byte, 32)
	d[0] = digest
	return &wire.Message{Content: &wire.Message_Prepare{Prepare: &wire.Prepare{
		View: 1, Sequence: seq, Digest: d, Replica: 2, Signature: []byte("sig")}}}
}

// The sent log keeps each signed message once, in send order, passes
// everything on, survives a frame torn by a crash at its end, and appends
// after it once reopened.
func TestSentLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sent.log")
	l, err := driver.OpenSentLog(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	sink := &sinkTransport{}
	tr := l.Wrap(sink)
	a, b := prepareMsg(1, 1), prepareMsg(2, 2)
	for id := range uint32(3) { // a broadcast: one envelope, three sends
		tr.Send(id, a)
	}
	tr.Send(0, prepareMsg(1, 1)) // a retransmission: a new envelope, the same bytes
	tr.Send(0, &wire.Message{Content: &wire.Message_Status{Status: &wire.Status{View: 1}}})
	tr.Send(1, b)
	if len(sink.sent) != 6 {
		t.Fatalf("%d messages reached the network, want 6", len(sink.sent))
	}
	if rec, rep := l.Counts(); rec != 2 || rep != 3 {
		t.Fatalf("recorded %d, repeats %d; want 2 and 3", rec, rep)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	tr.Send(0, prepareMsg(3, 3))
	if len(sink.sent) != 6 {
		t.Fatal("a signed message was sent after the log closed, unrecorded")
	}
	check := func(want []*wire.Message, wantTorn bool) {
		t.Helper()
		got, torn, err := driver.ReadSentLog(path)
		if err != nil || torn != wantTorn || len(got) != len(want) {
			t.Fatalf("ReadSentLog: %d messages, torn %v, %v; want %d, torn %v", len(got), torn, err, len(want), wantTorn)
		}
		for i := range want {
			if !proto.Equal(got[i], want[i]) {
				t.Fatalf("message %d: %v, want %v", i, got[i], want[i])
			}
		}
	}
	check([]*wire.Message{a, b}, false)

	// A crash in the middle of a frame: its header and part of its body.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte{0, 0, 0, 40, 1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	check([]*wire.Message{a, b}, true)

	c := prepareMsg(3, 3)
	l, err = driver.OpenSentLog(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	l.Wrap(sink).Send(0, c)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	check([]*wire.Message{a, b, c}, false)

	// Only a torn header.
	f, err = os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte{0, 0}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	check([]*wire.Message{a, b, c}, true)
}

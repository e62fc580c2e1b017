package byzantine

import (
	"google.golang.org/protobuf/proto"

	"github.com/bulwark-bft/bulwark/pbft"
	"github.com/bulwark-bft/bulwark/pbft/wire"
)

// evil is the result every WrongResult replica replies with: f of them
// agree, one short of what a client accepts.
var evil = []byte("evil")

func wrongResult(m *wire.Message) *wire.Message {
	if m.GetReply() == nil {
		return m
	}
	m = proto.Clone(m).(*wire.Message)
	m.GetReply().Result, m.GetReply().ResultDigest = evil, nil
	return m
}

// badState corrupts the state the replica serves a recovering one: a
// flipped byte in a chunk, or, half the time, silence instead of the last
// chunk.
func (d *Decorator) badState(env pbft.Envelope) []Out {
	sc := env.Msg.GetStateChunk()
	if sc == nil {
		return []Out{{Envelope: env}}
	}
	rng := d.cfg.Rand
	if sc.GetChunk()+1 == sc.GetChunks() && rng.IntN(2) == 0 {
		return nil
	}
	m := proto.Clone(env.Msg).(*wire.Message)
	if data := m.GetStateChunk().GetData(); len(data) > 0 {
		data[rng.IntN(len(data))] ^= 0x01
	}
	return []Out{{Envelope: pbft.Envelope{To: env.To, Msg: m}}}
}

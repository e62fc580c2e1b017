package sim

import (
	"fmt"

	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/pbft"
	"github.com/bulwark-bft/bulwark/pbft/client"
	"github.com/bulwark-bft/bulwark/pbft/wire"
	"github.com/bulwark-bft/bulwark/statemachine/kv"
)

// clientProc is one client key running several sessions at once.
type clientProc struct {
	signer   crypto.Signer
	sessions []*session
}

type session struct {
	core *client.Session
	left int // operations still to submit
}

func (s *Sim) newClients(newSigner func(string) crypto.Signer) {
	total := s.opts.Clients * s.opts.Sessions
	for c := range s.opts.Clients {
		p := &clientProc{signer: newSigner(fmt.Sprintf("client-%d", c))}
		for i := range s.opts.Sessions {
			core, err := client.NewSession(client.Config{
				ClusterID:       "sim",
				Replicas:        s.opts.Replicas,
				Signer:          p.signer,
				Session:         uint64(i),
				FirstTimestamp:  1,
				RetransmitTicks: s.opts.RetransmitTicks,
				FastReads:       s.opts.ReadPercent > 0,
			})
			if err != nil {
				panic(err) // options were validated by New's replicas
			}
			idx := c*s.opts.Sessions + i
			quota := s.opts.Operations / total
			if idx < s.opts.Operations%total {
				quota++
			}
			p.sessions = append(p.sessions, &session{core: core, left: quota})
		}
		s.byKey[string(p.signer.PublicKey())] = len(s.clients)
		s.clients = append(s.clients, p)
	}
}

// tickClient ticks every session of client c, starting new operations and
// retransmitting unanswered ones.
func (s *Sim) tickClient(c int) {
	p := s.clients[c]
	for _, ss := range p.sessions {
		if ss.core.Outstanding() == nil {
			if ss.left == 0 {
				continue
			}
			ss.left--
			var req *wire.Request
			var err error
			if s.opts.ReadPercent > 0 && s.rng.IntN(100) < s.opts.ReadPercent {
				key := s.randomKey()
				if req, err = ss.core.Submit(kv.EncodeGet(key), true); err == nil {
					s.check.reading(string(p.signer.PublicKey()), req, key)
				}
			} else {
				req, err = ss.core.Submit(s.randomOp(), false)
			}
			if err != nil {
				s.err = fmt.Errorf("client %d: %w", c, err)
				return
			}
			s.sendRequest(c, req)
			continue
		}
		if req := ss.core.Tick(); req != nil {
			s.sendRequest(c, req)
		}
	}
}

func (s *Sim) sendRequest(c int, req *wire.Request) {
	s.check.submitted[pbft.RequestDigest("sim", req)] = true
	m := &wire.Message{Content: &wire.Message_Request{Request: req}}
	for r := range s.replicas {
		s.transmit(len(s.replicas)+c, r, m)
	}
}

func (s *Sim) clientReceive(c, from int, m *wire.Message) {
	rep := m.GetReply()
	if rep == nil || from >= len(s.replicas) {
		return
	}
	p := s.clients[c]
	if rep.GetSession() >= uint64(len(p.sessions)) {
		return
	}
	ss := p.sessions[rep.GetSession()]
	res, ok := ss.core.Step(uint32(from), rep)
	if !ok {
		return
	}
	if err := s.check.accepted(string(p.signer.PublicKey()), rep.GetSession(), res); err != nil && s.err == nil {
		s.err = err
	}
}

var values = [][]byte{nil, []byte("a"), []byte("b"), []byte("c")}

// randomKey draws one of the run's keys.
func (s *Sim) randomKey() []byte { return keyName(s.rng.IntN(max(s.opts.Keys, 1))) }

func keyName(i int) []byte { return []byte(fmt.Sprintf("k%d", i)) }

// randomOp draws a key-value operation over a small key and value space, so
// that compare-and-swap both succeeds and fails.
func (s *Sim) randomOp() []byte {
	key := s.randomKey()
	val := func() []byte { return values[1+s.rng.IntN(len(values)-1)] }
	switch s.rng.IntN(4) {
	case 0:
		return kv.EncodePut(key, val())
	case 1:
		return kv.EncodeGet(key)
	case 2:
		return kv.EncodeDelete(key)
	default:
		return kv.EncodeCAS(key, values[s.rng.IntN(len(values))], val())
	}
}

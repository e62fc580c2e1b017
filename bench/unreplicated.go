package bench

import (
	"context"
	"errors"
	"fmt"
	"github.com/bulwark-bft/bulwark/pbft"
	"log/slog"

	"google.golang.org/protobuf/proto"

	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/internal/storage"
	"github.com/bulwark-bft/bulwark/network"
	"github.com/bulwark-bft/bulwark/pbft/wire"
	"github.com/bulwark-bft/bulwark/statemachine"
)

// unreplicated is the yardstick: one server on the same libp2p transport,
// receiving the same signed requests from the same clients, applying them
// to the same service and writing each batch to Badger with a synced write
// before it replies, as a replica does; only agreement is missing. Like a
// replica, it trusts a request's client because it came over that client's
// own authenticated stream, so it verifies no signature.
type unreplicated struct {
	host     *network.ReplicaHost
	store    *storage.DB
	svc      statemachine.Service
	maxBatch int
	sessions map[sessionKey]*lastReply
	inBatch  map[sessionKey]uint64 // timestamps in the batch being built
	seq      uint64
	done     chan error
	cancel   context.CancelFunc
}

type sessionKey struct {
	client  string
	session uint64
}

type lastReply struct {
	ts  uint64
	rep *wire.Message
}

// unreplicatedKeep is how many batches the server keeps on disk; older
// ones are deleted so the directory stays bounded, like a replica's log.
const unreplicatedKeep = 256

func startUnreplicated(ctx context.Context, key *crypto.PrivateKey, self network.Peer, listen []string,
	dataDir string, svc statemachine.Service, maxBatch int, logger *slog.Logger) (*unreplicated, error) {
	store, err := storage.Open(storage.Options{Dir: dataDir, Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("unreplicated server: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	host, err := network.NewReplicaHost(ctx, network.Config{
		Key: key, ListenAddrs: listen, Self: 0, Replicas: []network.Peer{self}, Logger: logger,
	})
	if err != nil {
		cancel()
		return nil, errors.Join(fmt.Errorf("unreplicated server: %w", err), store.Close())
	}
	s := &unreplicated{host: host, store: store, svc: svc, maxBatch: maxBatch,
		sessions: make(map[sessionKey]*lastReply), inBatch: make(map[sessionKey]uint64), done: make(chan error, 1), cancel: cancel}
	go func() { s.done <- s.run(ctx) }()
	return s, nil
}

func (s *unreplicated) run(ctx context.Context) error {
	in := s.host.Inbound()
	var batch []*wire.Request
	for {
		select {
		case <-ctx.Done():
			return nil
		case m, ok := <-in:
			if !ok {
				return nil
			}
			batch = s.admit(batch[:0], m)
		}
		// Take what else is queued, up to a batch: batches grow with load.
	drain:
		for len(batch) < s.maxBatch {
			select {
			case m, ok := <-in:
				if !ok {
					break drain
				}
				batch = s.admit(batch, m)
			default:
				break drain
			}
		}
		if len(batch) > 0 {
			if err := s.execute(batch); err != nil {
				return err
			}
		}
	}
}

// admit adds a client's new request to batch; a retransmission of the last
// executed one gets its cached reply, an older one is dropped.
func (s *unreplicated) admit(batch []*wire.Request, m pbft.Inbound) []*wire.Request {
	defer m.Done() // a batch is small; what it holds need not count against the budget
	req := m.Msg.GetRequest()
	if req == nil || m.From.Replica >= 0 || string(req.GetClientKey()) != m.From.Client {
		return batch
	}
	k := sessionKey{m.From.Client, req.GetSession()}
	last := s.sessions[k]
	switch {
	case s.inBatch[k] >= req.GetTimestamp():
		// already in this batch (a retransmission), or older
	case last == nil || req.GetTimestamp() > last.ts:
		s.inBatch[k] = req.GetTimestamp()
		return append(batch, req)
	case req.GetTimestamp() == last.ts:
		s.host.SendClient(m.From.Client, last.rep)
	}
	return batch
}

func (s *unreplicated) execute(batch []*wire.Request) error {
	clear(s.inBatch)
	s.seq++
	ops := make([]statemachine.Op, len(batch))
	for i, r := range batch {
		ops[i] = statemachine.Op{Client: r.GetClientKey(), Session: r.GetSession(), Data: r.GetOperation()}
	}
	data, err := proto.Marshal(&wire.PrePrepare{Sequence: s.seq, Requests: batch})
	if err != nil {
		return fmt.Errorf("unreplicated server: encode batch: %w", err)
	}
	if err := s.store.Write([]storage.Record{{Kind: storage.KindCommitted, Sequence: s.seq, Data: data}}, true); err != nil {
		return fmt.Errorf("unreplicated server: %w", err)
	}
	if s.seq%unreplicatedKeep == 0 {
		if err := s.store.DeleteBelow(s.seq - unreplicatedKeep/2); err != nil {
			return fmt.Errorf("unreplicated server: %w", err)
		}
	}
	results := s.svc.Apply(s.seq, ops)
	for i, r := range batch {
		client := string(r.GetClientKey())
		rep := &wire.Message{Content: &wire.Message_Reply{Reply: &wire.Reply{
			ClientKey: r.GetClientKey(), Session: r.GetSession(), Timestamp: r.GetTimestamp(),
			Result: results[i],
		}}}
		s.sessions[sessionKey{client, r.GetSession()}] = &lastReply{ts: r.GetTimestamp(), rep: rep}
		s.host.SendClient(client, rep)
	}
	return nil
}

// stop ends the server and closes its host and store.
func (s *unreplicated) stop() error {
	s.cancel()
	err := <-s.done
	return errors.Join(err, s.host.Close(), s.store.Close())
}

package byzantine

import (
	"google.golang.org/protobuf/proto"

	"github.com/bulwark-bft/bulwark/pbft/wire"
)

// censor leaves the censored client key's requests out of a pre-prepare and
// re-signs the batch: every backup gets the same, valid batch, so only the
// censored client's requests, which the backups hold from the client
// itself, are left waiting (their timers must replace the primary).
func (d *Decorator) censor(m *wire.Message) *wire.Message {
	pp := m.GetPrePrepare()
	if pp == nil {
		return m
	}
	if d.censored == "" && len(pp.GetRequests()) > 0 {
		d.censored = string(pp.GetRequests()[0].GetClientKey())
	}
	return d.once(pp, func() *wire.Message {
		alt := proto.Clone(pp).(*wire.PrePrepare)
		alt.Requests = alt.Requests[:0]
		for _, r := range pp.GetRequests() {
			if string(r.GetClientKey()) != d.censored {
				alt.Requests = append(alt.Requests, r)
			}
		}
		if len(alt.Requests) == len(pp.GetRequests()) {
			return m
		}
		signBatch(d.cfg.Signer, d.cfg.Cluster, alt)
		return prePrepare(alt)
	})
}

// readKey is one client session.
type readKey struct {
	client  string
	session uint64
}

// staleReadMemory bounds the sessions a StaleRead replica remembers.
const staleReadMemory = 4096

// staleRead answers a read-only request with the result the replica gave
// the session's previous read-only request, from an older state: a correct
// one, once, which a client must not take for the current one.
func (d *Decorator) staleRead(m *wire.Message) *wire.Message {
	rep := m.GetReply()
	if rep == nil || !rep.GetReadOnly() || rep.GetRejected() {
		return m
	}
	if d.lastRead == nil || len(d.lastRead) >= staleReadMemory {
		d.lastRead = make(map[readKey][]byte)
	}
	k := readKey{string(rep.GetClientKey()), rep.GetSession()}
	prev, ok := d.lastRead[k]
	d.lastRead[k] = rep.GetResult()
	if !ok {
		return m
	}
	m = proto.Clone(m).(*wire.Message)
	m.GetReply().Result = prev
	return m
}

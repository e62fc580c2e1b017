package pbft

import "github.com/bulwark-bft/bulwark/pbft/wire"

// Destinations of an outbound message besides a replica id.
const (
	// Broadcast sends to every other replica.
	Broadcast = -1
	// ToClient sends to the client named by Envelope.Client.
	ToClient = -2
)

// Envelope is one outbound message.
type Envelope struct {
	// To is a replica id, Broadcast or ToClient.
	To int
	// Client is the client's public key when To is ToClient.
	Client string
	Msg    *wire.Message
}

// Executed is a batch the replica applied to its service.
type Executed struct {
	Sequence uint64
	View     uint64
	// PrePrepare is the committed pre-prepare; the driver keeps it until the
	// next stable checkpoint so a restart can re-execute the batch.
	PrePrepare *wire.PrePrepare
	// Requests are the batch's requests; Skipped[i] is true when request i was
	// not applied because its client had already executed that timestamp.
	Requests []*wire.Request
	Skipped  []bool
	// Results holds one result per request (nil where skipped).
	Results [][]byte
}

// Ready is what a step asks the driver to do: make it durable with a
// Persister (everything but Messages), and only then send Messages.
type Ready struct {
	// Persist are messages binding the replica (an accepted or issued
	// pre-prepare, its own prepare or commit), to be synced before Messages.
	Persist []*wire.Message
	// Prepared are prepared certificates (the pre-prepare and 2f matching
	// prepares) the replica formed, to be synced with Persist: its commit
	// reveals them, and a view change must be able to prove them after a
	// crash.
	Prepared []*wire.PreparedCertificate
	// Messages are to be sent once Persist is durable.
	Messages []Envelope
	// Executed are the batches applied in this step, in sequence order.
	Executed []Executed
	// Restored is a state transfer the replica completed in this step: its
	// service and reply cache now hold this snapshot, proven by its
	// certificate, and it continues from the snapshot's sequence number.
	// Batches in Executed above its sequence number were executed after it.
	Restored *wire.StateSnapshot
	// Stable is set when the stable checkpoint advanced: the state at its
	// sequence number (service snapshot and reply cache) and the 2f+1
	// checkpoints proving it. The driver persists it durably, then deletes
	// every record at or below its sequence number: the log stays bounded.
	Stable *wire.StateSnapshot
	// Low is set when the low watermark moved to a stable checkpoint whose
	// state this replica does not hold (adopted from a NEW-VIEW; a state
	// transfer follows): its proof, persisted (synced) before Messages, so
	// a restarted replica's low watermark is never below it.
	Low *wire.StableProof
	// View is set when the replica moved to a view or entered it: the driver
	// persists it (synced) with Persist, before any message reveals it.
	View *ViewState
}

// Empty reports whether there is nothing to do.
func (rd Ready) Empty() bool {
	return len(rd.Persist) == 0 && len(rd.Prepared) == 0 && len(rd.Messages) == 0 && len(rd.Executed) == 0 && rd.Restored == nil && rd.Stable == nil && rd.Low == nil && rd.View == nil
}

// From names the authenticated peer a message arrived from.
type From struct {
	// Replica is the sending replica's id, or -1 for a client connection.
	Replica int
	// Client is the client's public key bytes when Replica is -1.
	Client string
}

// FromReplica is a message from replica id.
func FromReplica(id uint32) From { return From{Replica: int(id)} }

// FromClient is a message from the client holding key.
func FromClient(key []byte) From { return From{Replica: -1, Client: string(key)} }

func (f From) isClient() bool { return f.Replica < 0 }

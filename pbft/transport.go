package pbft

import (
	"github.com/bulwark-bft/bulwark/pbft/wire"
)

// Inbound is a message from an authenticated peer.
type Inbound struct {
	From From
	Msg  *wire.Message
	// Release, if set, gives back the transport's memory budget the message
	// was read against; the consumer calls Done once it is through with it,
	// so messages waiting to be consumed count against the budget too.
	Release func()
}

// Done releases m's budget, if it holds any.
func (m Inbound) Done() {
	if m.Release != nil {
		m.Release()
	}
}

// Transport carries a replica's messages. Sends are best-effort and must not
// block for long: PBFT tolerates loss (Status retransmits), and one slow peer
// must not stall the others. The libp2p transport and the in-memory one in
// memnet implement it.
type Transport interface {
	// Send delivers m to replica id.
	Send(id uint32, m *wire.Message)
	// SendClient delivers m to the client holding key, if connected.
	SendClient(key string, m *wire.Message)
	// Inbound yields received messages; it is closed when the transport is.
	Inbound() <-chan Inbound
}

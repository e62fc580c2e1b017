// Package network carries Bulwark's messages between replicas and clients
// over go-libp2p.
//
// Each replica's ed25519 signing key is also its libp2p identity, so the
// secure channel (Noise or TLS) authenticates the sender of every frame: a
// message read from a stream comes from the peer id at the other end, and
// that peer id maps to a replica id (cluster file) or a client's public key
// (embedded in the peer id). Nothing on the wire claims an identity.
//
// Replicas talk on /bulwark/replica/1.0.0: each replica keeps one long-lived
// outbound stream to every other replica and only writes to it; the peer only
// reads. Clients open /bulwark/client/1.0.0 streams to every replica and use
// them both ways: requests in, replies back on the same stream.
//
// Every stream carries frames: a 4-byte big-endian length, then a protobuf
// wire.Message. Sends never block: each peer has a bounded queue drained by
// its own writer goroutine, and a full queue drops the message (PBFT
// tolerates loss and retransmits on Status). Bad input (oversized or
// undecodable frames, strangers on the replica protocol) is dropped, counted
// in Stats, logged at a limited rate, and the offending stream is reset.
//
// Memory is bounded per peer and in all. Frames from clients are bounded by
// MaxClientFrameSize (2 MiB), below replicas' MaxFrameSize (16 MiB). A
// frame's body is read only once its length is reserved from the inbound
// frame budget (budget.go): 48 MiB for frames from replicas, each replica
// at most one MaxFrameSize of it, and 16 MiB for frames from clients, each
// at most one MaxClientFrameSize; a frame that cannot get its bytes within
// two seconds is dropped and its stream reset. A body must arrive within a
// deadline set from its length (bodygate.go), so a peer that announces a
// frame and stalls loses its stream and its reservation. Departed clients
// are forgotten by the peerstore (forget.go), so connection churn leaves
// nothing behind.
//
// Config.Clients, if set, names the only client keys a replica admits;
// other clients are refused at the connection (admission.go).
package network

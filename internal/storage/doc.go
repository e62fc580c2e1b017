// Package storage is the durable store of a Bulwark replica: its protocol
// records in an append-only log of its own (protolog.go), its snapshots in
// Badger v4.
//
// It is bytes-in/bytes-out: it does not import pbft. The driver encodes the
// protobuf messages a Ready asks it to persist into Record.Data and decodes
// them again from Load at start-up.
//
// # Key layout
//
// Every integer in a key is big-endian and fixed-width, so the byte order of
// keys is the numeric order of their fields and a prefix scan per kind is a
// cheap range scan:
//
//	log record      [kind:1][sequence:8][view:8][replica:4]   21 bytes, value = Data
//	view            [KindView:1]                                1 byte, value = [sequence:8][view:8][replica:4] ++ Data
//	snapshot meta   [KindSnapshotMeta:1][sequence:8][0:8][0:4]  21 bytes, value = meta (see snapshot.go)
//	snapshot chunk  [0x80:1][sequence:8][generation:8][index:4] 21 bytes, value = chunk bytes
//
// The protocol log keeps records under the same keys, and Load returns them
// in the same order. Log records therefore sort by (kind, sequence, view,
// replica). The view is a
// single record under a fixed key, so writing a new view replaces the old one
// instead of accumulating one record per view. Snapshot chunks live under a
// private prefix (0x80) above every Kind: Load stops before them, and they are
// only reachable through a complete snapshot's meta record.
//
// # Durability
//
// Write with sync, PutSnapshot and DeleteBelow are durable on return; a
// Write without sync is durable with the next of them (the protocol log
// syncs with fdatasync). Badger runs with SyncWrites: every commit is
// durable when it returns (in memory, for tests, Badger holds the records
// too). See write.go for
// why the cheaper SyncWrites-off-plus-DB.Sync scheme is unsound with
// value-log GC, and fault.go for the one fsync error Badger only logs.
package storage
